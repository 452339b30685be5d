/**
 * The baselines the bench compares the service with, each the least Deno can do:
 *
 * - `--mode http`: `Deno.serve` answering every request with a fixed JSON body (the HTTP ceiling);
 * - `--mode http-read`: the same after reading the request body (`arrayBuffer()`), the least a
 *   handler of POST bodies does;
 * - `--mode broadcast`: `Deno.upgradeWebSocket` clients at `/ws`; every `POST /data` body
 *   `{id, data}` is sent to all of them as `{"agent_id", "data"}` (the fan-out ceiling).
 *
 * `deno run -A bench/bare_server.ts --mode http --port 8080` (prints "listening on" when ready).
 */

function arg(name: string, fallback: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 && Deno.args[i + 1] ? Deno.args[i + 1]! : fallback;
}

const mode = arg("mode", "http");
const port = Number(arg("port", "8080"));
const FIXED = '{"result":"success"}';
const headers = { "content-type": "application/json" };
const clients = new Set<WebSocket>();

/** An ethstats node's socket, answered and otherwise forgotten. */
function ethstatsSocket(socket: WebSocket): void {
  socket.onmessage = (e) => {
    if (typeof e.data !== "string") return;
    if (e.data.startsWith("primus::ping::")) return socket.send(e.data.replace("ping", "pong"));
    let frame: { emit?: [string, { clientTime?: unknown }?] };
    try {
      frame = JSON.parse(e.data);
    } catch {
      return;
    }
    const name = frame.emit?.[0];
    if (name === "hello") socket.send('{"emit":["ready"]}');
    else if (name === "node-ping") {
      const clientTime = frame.emit?.[1]?.clientTime;
      socket.send(JSON.stringify({ emit: ["node-pong", { clientTime, serverTime: Date.now() }] }));
    }
  };
}

function handler(req: Request): Response | Promise<Response> {
  if (mode === "http") return new Response(FIXED, { headers });
  if (mode === "http-read") return req.arrayBuffer().then(() => new Response(FIXED, { headers }));
  const url = new URL(req.url);
  if (mode === "ethstats") {
    if (url.pathname !== "/api") return new Response("not found", { status: 404 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    ethstatsSocket(socket);
    return response;
  }
  if (url.pathname === "/ws") {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onopen = () => clients.add(socket);
    socket.onclose = () => clients.delete(socket);
    socket.onerror = () => clients.delete(socket);
    return response;
  }
  if (url.pathname === "/stats") return Response.json({ clients: clients.size });
  return req.json().then((body: { id: string; data: unknown }) => {
    const frame = JSON.stringify({ agent_id: body.id, data: body.data });
    for (const socket of clients) socket.send(frame);
    return new Response(FIXED, { headers });
  });
}

// `--hostnames 127.0.0.1,127.0.0.2`: the same port on several loopback addresses (more than one
// destination's ephemeral ports for the load); "listening on" once all listen.
const hostnames = arg("hostnames", "127.0.0.1").split(",");
for (const [i, hostname] of hostnames.entries()) {
  Deno.serve({
    hostname,
    port,
    onListen: ({ port }) => {
      if (i === hostnames.length - 1) console.log(`listening on http://${hostname}:${port} (${mode})`);
    },
  }, handler);
}
