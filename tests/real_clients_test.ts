/**
 * Client software nobody here wrote, against the whole service:
 *
 * - eth-net-intelligence-api (the classic ethstats agent: Primus 4.0.5 + primus-emit +
 *   primus-spark-latency, web3 0.15.3), vendored unchanged in tests/clients/ from
 *   github.com/cubedro/eth-net-intelligence-api at 9dab49f and run with Node. Its Ethereum node
 *   is a scripted JSON-RPC endpoint (the answers a go-ethereum node gives), so every frame the
 *   service reads was formatted by web3 0.x and sent by Primus.
 * - the Primus 8 client (a server heartbeat is required within its ping timeout).
 * - ganache 7.9.2, a real Ethereum node (instamine, its own chain), watched by
 *   eth-net-intelligence-api: its chain reorganised with `evm_revert`.
 * - POA Network's agent (poa-netstats-agent, Elixir/hackney): its requests replayed byte for byte
 *   as its source builds them (msgpack bodies, `user-agent: hackney/1.12.1`, an empty Bearer first,
 *   `/session` with `{"agent-id"}`, one retry, a full 41-block history), beside the agent itself,
 *   built from source and run in tests/poa_agent_test.ts.
 * - go-ethereum, Nethermind and Besu need their binaries, which this machine does not have: their
 *   frames and URL rules are pinned in ingress/ethstats/{credentials,frames,routes}_test.ts.
 *
 * `deno task test` installs tests/clients (npm ci) before the suite runs.
 */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { defaultReceivers, parseConfig } from "../core/config.ts";
import type { Message } from "../core/message.ts";
import { adminAuth, basic, createUser, freePort, recorderType, waitFor } from "./support/harness.ts";
import { type Child, CLIENTS, ofType, runNode, startGanache, withRecorder } from "./support/clients.ts";
import { startTestService, type TestService } from "./support/service.ts";
import { wsClient } from "./support/ws.ts";

/**
 * Runs tests/clients/primus_probe.js (`args` after the script) until it exits: the events the
 * real Primus client logged, and its whole output for assertion messages.
 */
async function primusProbe(args: string[]): Promise<{ events: string[]; log: string }> {
  const probe = runNode(["primus_probe.js", ...args]);
  try {
    await waitFor(() => probe.lines.some((l) => l.includes('"exit"')), 15_000, "the probe to finish");
    const events = probe.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).event as string);
    return { events, log: probe.lines.join("\n") };
  } finally {
    await probe.stop();
  }
}

// ---- a go-ethereum node's JSON-RPC answers, for web3 0.15 ----

const HEAD = 100;
const hex = (n: number) => "0x" + n.toString(16);
const hash = (tag: string, n: number) => "0x" + `${tag}${n}`.padStart(64, "0");

function rpcBlock(n: number) {
  return {
    number: hex(n),
    hash: hash("b", n),
    parentHash: hash("b", n - 1),
    nonce: "0x0000000000000000",
    mixHash: "0x" + "0".repeat(64),
    sha3Uncles: "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    logsBloom: "0x" + "0".repeat(512),
    transactionsRoot: "0x" + "1".repeat(64),
    stateRoot: "0x" + "2".repeat(64),
    receiptsRoot: "0x" + "3".repeat(64),
    miner: "0x" + "a".repeat(40),
    difficulty: "0x0",
    totalDifficulty: "0xc70d815d562d3cfa955",
    extraData: "0x6765746820",
    size: "0x2a3",
    gasLimit: "0x1c9c380",
    gasUsed: "0x5208",
    timestamp: hex(1700000000 + n * 12),
    baseFeePerGas: "0x3b9aca00",
    transactions: [hash("c", n)],
    uncles: [],
  };
}

/** go-ethereum's answer to a method it does not have (rpc/errors.go, methodNotFoundError). */
const METHOD_NOT_FOUND = -32601;

function rpcAnswer(method: string, params: unknown[]): unknown {
  switch (method) {
    case "net_listening":
      return true;
    case "eth_coinbase":
      return "0x" + "a".repeat(40);
    case "web3_clientVersion":
      return "Geth/v1.14.12-stable/linux-amd64/go1.23.4";
    case "net_version":
      return "1";
    case "eth_protocolVersion":
      return "0x44";
    case "net_peerCount":
      return "0x19";
    case "eth_mining":
      return false;
    case "eth_hashrate":
      return "0x0";
    case "eth_gasPrice":
      return "0x4a817c800"; // web3 0.x hands it on as a BigNumber: "20000000000" on the wire
    case "eth_syncing":
      return false;
    case "eth_getBlockTransactionCountByNumber":
      return "0x3";
    case "eth_blockNumber":
      return hex(HEAD);
    case "eth_getBlockByNumber": {
      const which = params[0];
      return rpcBlock(which === "latest" || which === "pending" ? HEAD : parseInt(String(which), 16));
    }
    case "eth_getBlockByHash":
      return rpcBlock(HEAD);
    case "eth_newBlockFilter":
      return "0x1";
    case "eth_newPendingTransactionFilter":
      return "0x2";
    case "eth_getFilterChanges":
      return [];
    case "eth_uninstallFilter":
      return true;
    default:
      return null;
  }
}

/**
 * A node's JSON-RPC, as go-ethereum 1.14 answers it (rpcAnswer), or as an older one: `version`
 * for web3_clientVersion, `missing` the methods it answers -32601 to.
 */
function startRpc(
  node: { version?: string; missing?: string[] } = {},
): { port: number; close(): Promise<void> } {
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
    async (req) => {
      const body = await req.json();
      const answer = (r: { id: unknown; method: string; params?: unknown[] }) =>
        node.missing?.includes(r.method)
          ? {
            jsonrpc: "2.0",
            id: r.id,
            error: {
              code: METHOD_NOT_FOUND,
              message: `the method ${r.method} does not exist/is not available`,
            },
          }
          : {
            jsonrpc: "2.0",
            id: r.id,
            result: r.method === "web3_clientVersion" && node.version
              ? node.version
              : rpcAnswer(r.method, r.params ?? []),
          };
      return Response.json(Array.isArray(body) ? body.map(answer) : answer(body));
    },
  );
  return {
    port: server.addr.port,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

function startEnia(service: TestService, rpcPort: number, name: string, secret: string): Child {
  return runNode(["app.js"], {
    cwd: `${CLIENTS}eth-net-intelligence-api`,
    env: {
      RPC_HOST: "127.0.0.1",
      RPC_PORT: String(rpcPort),
      WS_SERVER: service.base.replace("http", "ws"),
      WS_SECRET: secret,
      INSTANCE_NAME: name,
      CONTACT_DETAILS: "ops@example.org",
      NODE_ENV: "test",
    },
  });
}

function ethstatsStats(service: TestService): Record<string, number> {
  return service.service.ethstats!.stats();
}

Deno.test({
  name:
    "eth-net-intelligence-api (Primus 4 + web3 0.15) connects through /api/ with WS_SECRET user:password; every report arrives as the original agent's shape",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service, messages) => {
      await createUser(service.base, "alice", "alice-pa55word");
      const rpc = startRpc();
      const enia = startEnia(service, rpc.port, "enia-node", "alice:alice-pa55word");
      try {
        const id = "eniaNode"; // lodash camelCase of INSTANCE_NAME, as the agent sends it
        const need = ["information", "block", "pending", "statistics", "history", "latency"];
        await waitFor(
          () => need.every((t) => ofType(messages, id, t).length > 0),
          25_000,
          "every report type from eth-net-intelligence-api",
        ).catch((err) => {
          throw new Error(
            `${err.message}; got ${messages.map((m) => m.data["type"])}; agent said:\n${
              enia.lines.slice(-30).join("\n")
            }`,
          );
        });
        const info = ofType(messages, id, "information")[0]!.data["body"] as Record<string, unknown>;
        assert.equal(info["name"], "enia-node");
        assert.equal(info["node"], "Geth/v1.14.12-stable/linux-amd64/go1.23.4");

        const stats = ofType(messages, id, "statistics").at(-1)!.data["body"] as Record<string, unknown>;
        assert.equal(stats["gasPrice"], 20_000_000_000); // sent as the decimal string "20000000000"
        assert.equal(stats["peers"], 25);
        assert.equal(stats["syncing"], false);

        const block = ofType(messages, id, "block").at(-1)!.data["body"] as Record<string, unknown>;
        assert.equal(block["number"], HEAD);
        assert.deepEqual(block["transactions"], [hash("c", HEAD)]); // web3's hash strings
        assert.equal(block["totalDifficulty"], "58750003716598352816469");

        // The service asked for the blocks below the head; web3 formatted them the same way.
        const history = ofType(messages, id, "history")[0]!.data["body"] as {
          history: Array<{ number: number }>;
        };
        assert.ok(history.history.length > 0);
        assert.ok(history.history.every((b) => b.number < HEAD && b.number >= HEAD - 50));

        const s = ethstatsStats(service);
        assert.equal(s["malformed"], 0, JSON.stringify(s)); // _latency frames included
        assert.equal(s["logins_ok"], 1);
        assert.equal(s["logins_failed"], 0);
      } finally {
        await enia.stop();
        await rpc.close();
      }
    });
  },
});

Deno.test({
  name:
    "eth-net-intelligence-api beside go-ethereum 1.10-1.13 (no eth_protocolVersion: protocol and api null in its hello) logs in and reports",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service, messages) => {
      await createUser(service.base, "carol", "carol-pa55word");
      // go-ethereum dropped eth_protocolVersion in 1.10.0; eth_mining and eth_hashrate stayed until 1.14.
      const rpc = startRpc({
        version: "Geth/v1.13.15-stable-c5ba367e/linux-amd64/go1.21.6",
        missing: ["eth_protocolVersion"],
      });
      const enia = startEnia(service, rpc.port, "old-geth", "carol:carol-pa55word");
      try {
        const id = "oldGeth";
        // Before: "malformed hello", primus::server::close, and the agent stopped for good.
        await waitFor(() => ofType(messages, id, "statistics").length > 0, 25_000, "statistics").catch(
          (err) => {
            throw new Error(`${err.message}; agent said:\n${enia.lines.slice(-30).join("\n")}`);
          },
        );
        const info = ofType(messages, id, "information")[0]!.data["body"] as Record<string, unknown>;
        assert.equal(info["node"], "Geth/v1.13.15-stable-c5ba367e/linux-amd64/go1.21.6");
        assert.equal(info["protocol"], null);
        assert.equal(info["api"], null);
        const s = ethstatsStats(service);
        assert.equal(s["logins_ok"], 1);
        assert.equal(s["logins_failed"], 0);
      } finally {
        await enia.stop();
        await rpc.close();
      }
    });
  },
});

Deno.test({
  name:
    "eth-net-intelligence-api rides out a service restart: its queued frames before hello are answered or dropped, it logs in again",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const port = freePort();
    const dir = await Deno.makeTempDir({ prefix: "poa-restart-" });
    const seen: Record<string, { messages: Message[]; inactive: string[] }> = {};
    const start = () =>
      startTestService(
        {
          listen: [{ hostname: "127.0.0.1", port }],
          receivers: [{ id: "rec", type: "recorder", subscribe: ["ethereum_metrics", "networking_metrics"] }],
        },
        { recorder: recorderType(seen) },
        dir,
      );
    let service = await start();
    const rpc = startRpc();
    await createUser(service.base, "carol", "carol-pa55word");
    const enia = startEnia(service, rpc.port, "enia-restart", "carol:carol-pa55word");
    const reports = () => ofType(seen["rec"]!.messages, "eniaRestart", "statistics").length;
    try {
      await waitFor(() => reports() > 0, 25_000, "reports");
      await service.stop(); // sockets closed with 1001: Primus reconnects, queueing its reports meanwhile
      await new Promise((resolve) => setTimeout(resolve, 4000)); // over the agent's 3 s node-ping interval
      service = await start(); // same port, same users (Deno KV in the data dir); a new recorder
      await waitFor(() => reports() > 0, 25_000, "reports again").catch((err) => {
        throw new Error(
          `${err.message}: ${JSON.stringify(ethstatsStats(service))}\n${enia.lines.slice(-20).join("\n")}`,
        );
      });
      const s = ethstatsStats(service);
      assert.equal(s["logins_ok"], 1, JSON.stringify(s));
      assert.equal(s["ignored"], 0); // what it flushed right after hello was held during the login
      assert.equal(s["logins_failed"], 0);
      assert.equal(s["malformed"], 0);
      assert.equal(s["connections_total"], 1);
    } finally {
      await enia.stop();
      await rpc.close();
      await service.close();
    }
  },
});

Deno.test({
  name:
    "eth-net-intelligence-api with a wrong secret stops (primus::server::close) instead of redialling every 0.5 s",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service) => {
      const rpc = startRpc();
      const enia = startEnia(service, rpc.port, "enia-bad", "nobody:wrong");
      try {
        await waitFor(() => (ethstatsStats(service)["logins_failed"] ?? 0) >= 1, 15_000, "the refused login");
        await new Promise((resolve) => setTimeout(resolve, 4000));
        const s = ethstatsStats(service);
        // Before: a plain close made Primus reconnect ~every 0.5 s (8 or more connections here).
        assert.equal(s["connections_total"], 1, JSON.stringify(s));
        assert.equal(s["logins_failed"], 1);
      } finally {
        await enia.stop();
        await rpc.close();
      }
    });
  },
});

Deno.test({
  name:
    "eth-net-intelligence-api closed by a deactivation comes back once the user is active again, and stops while it is not",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service) => {
      await createUser(service.base, "erin", "erin-pa55word");
      const admin = { ...adminAuth, "content-type": "application/json" };
      const setActive = async (active: boolean) => {
        const res = await fetch(`${service.base}/user/erin`, {
          method: "PATCH",
          headers: admin,
          body: JSON.stringify({ active }),
        });
        assert.equal(res.status, 204);
        await res.body?.cancel();
      };
      const rpc = startRpc();
      const enia = startEnia(service, rpc.port, "enia-erin", "erin:erin-pa55word");
      try {
        await waitFor(() => (ethstatsStats(service)["logins_ok"] ?? 0) === 1, 15_000, "its login");
        // Deactivated and active again at once: its socket is closed (its login is of the old
        // token epoch), and it logs in again. Before: primus::server::close, and it stopped for good.
        await setActive(false);
        await setActive(true);
        await waitFor(() => ethstatsStats(service)["closed_inactive_user"] === 1, 5_000, "its socket closed");
        await waitFor(() => ethstatsStats(service)["logins_ok"] === 2, 15_000, "its login again");
        // Deactivated for good: closed, refused once at its next hello, and it stops there.
        await setActive(false);
        await waitFor(() => ethstatsStats(service)["closed_inactive_user"] === 2, 5_000, "its socket closed");
        await waitFor(() => ethstatsStats(service)["logins_failed"] === 1, 15_000, "its refused hello");
        const connections = ethstatsStats(service)["connections_total"];
        await new Promise((resolve) => setTimeout(resolve, 4000));
        const s = ethstatsStats(service);
        assert.equal(s["connections_total"], connections, JSON.stringify(s));
        assert.equal(s["logins_ok"], 2);
      } finally {
        await enia.stop();
        await rpc.close();
      }
    });
  },
});

Deno.test({
  name:
    "eth-net-intelligence-api refused by the login limit (its name locked at its address) comes back and logs in once the window passed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({ loginLimit: { maxFailures: 1, windowSeconds: 3 } }, async (service) => {
      await createUser(service.base, "dave", "dave-pa55word");
      // A neighbour at the same address guesses once: the name is locked there for 3 s.
      const guess = await fetch(`${service.base}/session`, {
        method: "POST",
        headers: { authorization: basic("dave", "a-wrong-guess") },
      });
      assert.equal(guess.status, 401);
      await guess.body?.cancel();
      const rpc = startRpc();
      const enia = startEnia(service, rpc.port, "enia-limited", "dave:dave-pa55word");
      try {
        await waitFor(() => (ethstatsStats(service)["logins_failed"] ?? 0) >= 1, 15_000, "the limited login");
        // Before: refused with primus::server::close, after which the agent stopped for good
        // (restarted by hand) although its secret was right.
        await waitFor(
          () => (ethstatsStats(service)["logins_ok"] ?? 0) >= 1,
          20_000,
          "its login after the window",
        );
      } finally {
        await enia.stop();
        await rpc.close();
      }
    });
  },
});

Deno.test({
  name:
    "a Primus client back from a 4-minute outage flushes its 80 queued node-pings before hello and is not dropped",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service, messages) => {
      await createUser(service.base, "carol", "carol-pa55word");
      // Before: the queue counted against the rate (burst 50) and the node was closed as soon as it
      // came back, its address cooled down, over and over after every outage longer than ~75 s.
      const { events, log } = await primusProbe([
        "4",
        service.base.replace("http", "ws"),
        "back:carol",
        "carol-pa55word",
        "4000",
        "-",
        "80",
      ]);
      assert.ok(events.includes("ready"), log);
      for (const bad of ["end", "close", "reconnect scheduled"]) {
        assert.ok(!events.includes(bad), `${bad}: ${log}`);
      }
      // Only the probe's own ping after ready is answered (not the 80 stale ones): one latency report.
      assert.equal(events.filter((e) => e === "node-pong").length, 1, log);
      const s = ethstatsStats(service);
      assert.equal(s["limited_rate"], 0, JSON.stringify(s));
      assert.equal(s["connections_total"], 1);
      await waitFor(() => ofType(messages, "back", "latency").length === 1, 5000, "its latency report");
    });
  },
});

Deno.test({
  name:
    "a Primus 8 client stays connected across its ping timeout: the server's primus::ping heartbeats keep it up",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({ ethstats: { pingIntervalSeconds: 1 } }, async (service, messages) => {
      await createUser(service.base, "bob", "bob-pa55word");
      // pingTimeout 2.5 s (45 s by default): without a server heartbeat Primus drops the line.
      const { events, log } = await primusProbe([
        "8",
        service.base.replace("http", "ws"),
        "p8:bob", // geth's form: display name, then the user; the secret is the password
        "bob-pa55word",
        "7000",
        "2500",
      ]);
      assert.ok(events.includes("ready"), log);
      assert.ok(events.includes("node-pong"), log);
      assert.ok(events.filter((e) => e === "incoming::ping").length >= 4, log);
      for (const bad of ["timeout", "reconnect scheduled", "end", "close"]) {
        assert.ok(!events.includes(bad), `${bad}: ${log}`);
      }
      assert.equal(ethstatsStats(service)["connections_total"], 1);
      assert.deepEqual(ofType(messages, "p8", "pending").map((m) => m.data["body"]), [{ pending: 4 }]);
    });
  },
});

Deno.test({
  name:
    "the Primus 4 client of eth-net-intelligence-api refused once ends for good (no un-authorization handler needed)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withRecorder({}, async (service) => {
      const { events, log } = await primusProbe([
        "4",
        service.base.replace("http", "ws"),
        "x",
        "wrong",
        "3000",
      ]);
      assert.ok(events.includes("end"), log);
      assert.ok(!events.includes("reconnect scheduled"), log);
      assert.equal(ethstatsStats(service)["connections_total"], 1);
    });
  },
});

// ---- POA Network's agent, replayed as its source builds each request ----

const HACKNEY = { "user-agent": "hackney/1.12.1", "content-type": "application/msgpack" };

/** poa-netstats-agent's block body (`format_block/1`): ints, decimal strings, hash strings. */
function poaBlock(n: number, txs: number) {
  return {
    author: "0x" + "6f".repeat(20),
    difficulty: "340282366920938463463374607431768211454",
    extraData: "0xd583010b088650617269747986312e32372e32826c69",
    gasLimit: 8000000,
    gasUsed: 21000 * txs,
    hash: hash("b", n),
    miner: "0x" + "6f".repeat(20),
    number: n,
    parentHash: hash("b", n - 1),
    receiptsRoot: "0x" + "3".repeat(64),
    sealFields: ["0x84" + "1".repeat(8), "0xb841" + "2".repeat(130)],
    sha3Uncles: "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    signature: "ab".repeat(65),
    size: 780 + txs * 110,
    stateRoot: "0x" + "2".repeat(64),
    step: "307012345",
    timestamp: 1535000000 + n * 5,
    totalDifficulty: "4199" + "0".repeat(30),
    transactions: Array.from({ length: txs }, (_, i) => "0x" + `${n}f${i}`.padStart(64, "0")),
    transactionsRoot: "0x" + "1".repeat(64),
    uncles: [],
  };
}

Deno.test({
  name:
    "POA agent: empty Bearer → 401 → /session (Basic, msgpack agent-id, hackney) → retry; a 1.7 MB history passes the default limit; the default dashboard replays Ethereum statistics, not system ones",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The default receivers' dashboard entry, as a config without `receivers` gets it.
    const dashboard = defaultReceivers(parseConfig({}))[0]!;
    assert.equal(dashboard.type, "dashboard");
    assert.deepEqual(dashboard.subscribe, ["ethereum_metrics", "networking_metrics"]);
    const seen: Record<string, { messages: Message[]; inactive: string[] }> = {};
    const service = await startTestService({
      receivers: [dashboard, {
        id: "rec",
        type: "recorder",
        subscribe: ["ethereum_metrics", "system_metrics"],
      }],
    }, { recorder: recorderType(seen) });
    try {
      await createUser(service.base, "AhvK0DSj", "EkiuUkyOD6KLas8");
      const id = "elixirNodeJSIntegration";
      let token = "";
      let sessions = 0;
      /** The agent's `post/3`: one request, and on 401 a new token and one retry. */
      const post = async (path: string, body: unknown): Promise<number> => {
        const send = () =>
          fetch(`${service.base}${path}`, {
            method: "POST",
            headers: { ...HACKNEY, authorization: `Bearer ${token}` },
            body: encode(body),
          });
        let res = await send();
        if (res.status === 401) {
          await res.body?.cancel();
          sessions++;
          const session = await fetch(`${service.base}/session`, {
            method: "POST",
            headers: { ...HACKNEY, authorization: "Basic " + btoa("AhvK0DSj:EkiuUkyOD6KLas8") },
            body: encode({ "agent-id": id }),
          });
          assert.equal(session.status, 200);
          token = (JSON.parse(await session.text()) as { token: string }).token; // Poison.decode!
          res = await send();
        }
        await res.body?.cancel();
        return res.status;
      };
      const data = (type: string, payload: Record<string, unknown>) =>
        post("/data", { id, type, data: payload });

      assert.equal(
        await data("ethereum_metrics", {
          type: "information",
          body: {
            name: "Elixir-NodeJS-Integration",
            contact: "myemail@gmail.com",
            coinbase: "0x" + "6f".repeat(20),
            node: "Parity//v1.11.8-stable/x86_64-linux-gnu/rustc1.27.2",
            net: "77",
            protocol: 63,
            api: "",
            ip: "10.0.0.5",
            port: "",
            os: "linux",
            os_v: "4.15.0",
            client: "0.1.0",
            canUpdateHistory: true,
          },
        }),
        200,
      );
      assert.equal(sessions, 1); // the first request went out with an empty Bearer
      const ethStats = {
        type: "statistics",
        body: {
          active: true,
          mining: true,
          hashrate: 0,
          peers: 5,
          gasPrice: 1000000000,
          syncing: false,
          uptime: 100.0,
        },
      };
      assert.equal(await data("ethereum_metrics", ethStats), 200);
      assert.equal(await data("ethereum_metrics", { type: "block", body: poaBlock(1234, 600) }), 200);
      const history = {
        type: "history",
        body: { history: Array.from({ length: 41 }, (_, i) => poaBlock(1234 - i, 600)) },
      };
      const historyBytes = encode({ id, type: "ethereum_metrics", data: history }).byteLength;
      assert.ok(historyBytes > 1_700_000 && historyBytes < 8_000_000, `${historyBytes} bytes`);
      assert.equal(await data("ethereum_metrics", history), 200);
      assert.equal(await data("ethereum_metrics", { type: "pending", body: { pending: 3 } }), 200);
      const system = { type: "statistics", body: { cpu_load: 12.5, memory_usage: 0.83, disk_usage: 41 } };
      assert.equal(await data("system_metrics", system), 200);
      assert.equal(await post("/ping", { id }), 200);
      assert.equal(await data("networking_metrics", { type: "latency", body: { latency: 4 } }), 200);
      assert.equal(sessions, 1);

      const recorded = seen["rec"]!.messages;
      await waitFor(() => recorded.length === 6, 5000, "the recorded reports"); // latency is networking_metrics
      const h = recorded.find((m) => m.data["type"] === "history")!.data["body"] as { history: unknown[] };
      assert.equal(h.history.length, 41);

      // A dashboard that connects now gets the node's Ethereum statistics as its last.
      const client = await wsClient<{ agent_id: string; data: Record<string, unknown> }>(
        service.base.replace("http", "ws") + "/ws",
        { wssecret: service.wsSecret },
      );
      try {
        await waitFor(() => client.frames.length >= 2, 5000, "the dashboard replay");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const stats = client.frames.filter((f) => f.data["type"] === "statistics");
        assert.deepEqual(stats, [{ agent_id: id, data: ethStats }]);
        assert.ok(!client.frames.some((f) => JSON.stringify(f).includes("cpu_load")));
      } finally {
        await client.close();
      }
    } finally {
      await service.close();
    }
  },
});

// ---- a real Ethereum node: ganache (tests/clients), watched by eth-net-intelligence-api ----

/** ganache 7.9.2 on a free port (instamine: each transaction is a block; `evm_mine` mines an empty one). */

Deno.test({
  name:
    "eth-net-intelligence-api beside a real node (ganache): after a reorganisation (evm_revert) the web dashboard's blocks are the node's chain",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ganache = await startGanache();
    const service = await startTestService({
      postgres: { url: "postgres://nobody:nothing@127.0.0.1:1/none" }, // the web state works from memory
      receivers: [{ id: "web", type: "web", subscribe: ["ethereum_metrics", "networking_metrics"] }],
    });
    let enia: Child | undefined;
    try {
      await createUser(service.base, "ganache-node", "ganache-pa55word");
      const accounts = await ganache.rpc("eth_accounts") as string[];
      const send = (value: number) =>
        ganache.rpc("eth_sendTransaction", [{
          from: accounts[0],
          to: accounts[1],
          value: "0x" + value.toString(16),
        }]);
      for (let i = 0; i < 3; i++) await ganache.rpc("evm_mine");
      enia = startEnia(service, ganache.port, "ganache-node", "ganache-node:ganache-pa55word");
      /** ganache's hash at each number the dashboard keeps, against the dashboard's. */
      const mismatches = async () => {
        const body = await (await fetch(`${service.base}/v1/blocks?limit=100`)).json();
        const blocks = body.blocks as Array<{ number: number; hash: string }>;
        const head = parseInt(await ganache.rpc("eth_blockNumber") as string, 16);
        const out: string[] = [];
        if (blocks[0]?.number !== head) out.push(`top ${blocks[0]?.number} vs head ${head}`);
        for (const b of blocks) {
          const real = await ganache.rpc("eth_getBlockByNumber", ["0x" + b.number.toString(16), false]) as
            | { hash: string }
            | null;
          if (real?.hash !== b.hash) out.push(`${b.number}: ${b.hash} vs ${real?.hash}`);
        }
        return out;
      };
      const matches = async (what: string) => {
        const deadline = Date.now() + 30_000;
        for (let last: string[] = [];;) {
          last = await mismatches();
          if (last.length === 0) return;
          if (Date.now() > deadline) {
            throw new Error(`${what}: ${last.join("; ")}\nagent said:\n${enia!.lines.slice(-20).join("\n")}`);
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      };
      await send(1);
      await matches("the chain before the reorganisation");
      const snapshot = await ganache.rpc("evm_snapshot");
      await send(2);
      await send(3); // blocks 5 and 6, soon not on the chain
      await matches("the branch about to be dropped");
      await ganache.rpc("evm_revert", [snapshot]);
      for (const value of [4, 5, 6]) await send(value); // another 5 and 6, and 7
      // Before: the dropped 5 and 6 stayed on the dashboard for good (the first hash at a number won).
      await matches("the chain after the reorganisation");
      const metrics = await (await fetch(`${service.base}/metrics`)).text();
      const replaced = /poa_receiver_stat\{receiver="web",stat="blocks_replaced"\} (\d+)/.exec(metrics);
      assert.ok(
        Number(replaced?.[1]) >= 1,
        metrics.split("\n").filter((l) => l.includes('"web"')).join("\n"),
      );
    } finally {
      await enia?.stop();
      await service.close();
      await ganache.stop();
    }
  },
});
