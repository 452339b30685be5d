// A Primus client as eth-net-intelligence-api builds one (transformer websockets, pathname /api,
// the primus-emit and primus-spark-latency plugins), from the real npm packages. Used by
// tests/real_clients_test.ts: it logs in, reports once, and prints every client event as a JSON
// line, so the test sees what Primus itself decided (reconnects, timeouts, the end).
//
//   node primus_probe.js <4|8> <ws://host:port> <name> <secret> <durationMs> [pingTimeoutMs] [queuedPings]
//
// queuedPings: node-pings emitted before the socket opens, as eth-net-intelligence-api's 3 s
// ping timer does while the server is away (Primus queues them and sends them before "open");
// each node-pong is then answered with a latency report, as that client does.
"use strict";
var version = process.argv[2];
var Primus = require(version === "8" ? "primus8" : "primus");
var Emitter = require("primus-emit");
var Latency = require("primus-spark-latency");

var url = process.argv[3];
var name = process.argv[4];
var secret = process.argv[5];
var durationMs = Number(process.argv[6]);
var options = { strategy: "disconnect,online,timeout", reconnect: { retries: 30 } };
if (process.argv[7] && process.argv[7] !== "-") options.pingTimeout = Number(process.argv[7]);
var queuedPings = Number(process.argv[8] || 0);

var server = {
  transformer: "websockets",
  pathname: "/api",
  strategy: "disconnect,online,timeout",
  reconnect: { retries: 30 },
  plugin: { emitter: Emitter, sparkLatency: Latency },
};
if (version !== "8") server.timeout = 120000; // eth-net-intelligence-api's; removed in Primus 7
var Socket = Primus.createSocket(server);
var T0 = Date.now();
function log(event, detail) {
  process.stdout.write(JSON.stringify({ t: Date.now() - T0, event: event, detail: detail }) + "\n");
}
var socket = new Socket(url, options);
for (var i = 0; i < queuedPings; i++) socket.emit("node-ping", { id: name, clientTime: Date.now() - (queuedPings - i) * 3000 });
socket.on("open", function () {
  log("open");
  socket.emit("hello", { id: name, info: { name: name, node: "primus-probe", net: "1" }, secret: secret });
});
socket.on("ready", function () {
  log("ready");
  socket.emit("pending", { id: name, stats: { pending: 4 } });
  socket.emit("node-ping", { id: name, clientTime: Date.now() });
});
socket.on("node-pong", function (data) {
  log("node-pong", data);
  if (queuedPings > 0) {
    socket.emit("latency", { id: name, latency: Math.ceil((Date.now() - data.clientTime) / 2) });
  }
});
socket.on("un-authorization", function (reason) {
  log("un-authorization", reason);
});
[
  "end",
  "close",
  "timeout",
  "offline",
  "online",
  "reconnect",
  "reconnected",
  "reconnect scheduled",
  "incoming::ping",
].forEach(function (event) {
  socket.on(event, function () {
    log(event);
  });
});
socket.on("error", function (err) {
  log("error", String(err && err.message));
});
setTimeout(function () {
  log("exit");
  process.exit(0);
}, durationMs);
