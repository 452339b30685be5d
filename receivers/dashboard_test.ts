import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { createDashboardReceiver, type DashboardReceiver, dashboardReceiverType } from "./dashboard.ts";
import { reportMessage } from "../tests/support/fixtures.ts";

const INACTIVE = {
  type: "statistics",
  body: { active: false, mining: false, hashrate: 0, peers: 0, gasPrice: null, syncing: null, uptime: null },
};

function message(agentId: string, data: Record<string, unknown>, dataType = "ethereum_metrics"): Message {
  return reportMessage(agentId, data, { dataType });
}

function dashboard(overrides: Record<string, unknown> = {}): { receiver: DashboardReceiver; secret: string } {
  const secret = crypto.randomUUID().replaceAll("-", "");
  const options = dashboardReceiverType.options.parse({ wsSecret: secret, ...overrides });
  return {
    receiver: createDashboardReceiver("dashboard", { ...options, wsSecret: options.wsSecret ?? secret }),
    secret,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 10 ms for at most `ms`; fails with `what` when it never holds. */
async function waitFor(what: string, check: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; waited <= ms; waited += 10) {
    if (check()) return;
    await sleep(10);
  }
  assert.fail(`timed out after ${ms} ms waiting for ${what}`);
}

interface Listener {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Serves the receiver's routes on a real listener, as the dashboard route group would be. */
function listen(receiver: DashboardReceiver): Listener {
  const controller = new AbortController();
  const app = receiver.routes.app;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
    (req, info) => app.fetch(req, info),
  );
  const port = server.addr.port;
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

interface Client {
  ws: WebSocket;
  frames: unknown[];
  closed: Promise<CloseEvent>;
  close(): Promise<void>;
}

/** Opens a websocket that records every frame (parsed JSON); rejects when it does not open. */
function connect(
  url: string,
  init?: { headers?: Record<string, string>; protocols?: string[] },
): Promise<Client> {
  const ws = new WebSocket(url, init ?? {});
  const frames: unknown[] = [];
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve, { once: true }));
  return new Promise((resolve, reject) => {
    ws.onopen = () =>
      resolve({
        ws,
        frames,
        closed,
        async close() {
          if (ws.readyState !== WebSocket.CLOSED) ws.close();
          await closed;
        },
      });
    ws.onerror = () => closed.then(() => reject(new Error("websocket did not open")));
  });
}

function upgradeHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-key": btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16)))),
    "sec-websocket-version": "13",
    ...extra,
  };
}

Deno.test("options: wsSecret is optional (the service's secret then), defaults apply, unknown keys are rejected", async () => {
  const schema = dashboardReceiverType.options;
  assert.equal(schema.safeParse({}).success, true);
  assert.equal(schema.safeParse({ wsSecret: "" }).success, false);
  assert.equal(schema.safeParse({ wsSecret: "s", wsPth: "/x" }).success, false);
  assert.deepEqual(schema.parse({ wsSecret: "s" }), {
    wsPath: "/ws",
    wsSecret: "s",
    maxClientBufferBytes: 1024 * 1024,
    maxClientsPerAddress: 50,
    replayTypes: ["information", "statistics", "block", "pending", "latency"],
    replayMetrics: ["ethereum_metrics", "networking_metrics"],
    maxReplayBytes: 64 * 1024 * 1024,
    maxReplayFrameBytes: 256 * 1024,
    maxAgents: 50_000,
  });
  // Without one, the receiver takes the service's shared secret, and refuses to start without either.
  const context = {
    config: { id: "d", type: "dashboard", subscribe: [] },
    dataDir: "unused",
    postgres: () => Promise.reject(new Error("unused")),
  };
  const shared = await dashboardReceiverType.create(schema.parse({}), {
    ...context,
    wsSecret: () => Promise.resolve("shared-secret"),
  });
  await shared.close?.();
  await assert.rejects(
    async () => await dashboardReceiverType.create(schema.parse({}), context),
    /no wsSecret/,
  );
});

Deno.test("system statistics go out live but never replay as a node's statistics (the POA agent sends both)", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  let live: Client | undefined;
  let late: Client | undefined;
  try {
    live = await connect(server.url, { headers: { wssecret: secret } });
    const eth = { type: "statistics", body: { active: true, peers: 5 } };
    const system = { type: "statistics", body: { cpu_load: 0.5, memory_usage: 0.2, disk_usage: 10 } };
    const latency = { type: "latency", body: { latency: 12 } };
    // the POA agent: Ethereum statistics every 5 s, system statistics every 5 s, latency under networking
    await receiver.receive([
      message("a", eth),
      message("a", system, "system_metrics"),
      message("a", latency, "networking_metrics"),
    ]);
    await waitFor("the live frames", () => live!.frames.length === 3);
    late = await connect(server.url, { headers: { wssecret: secret } });
    await waitFor("the replay", () => late!.frames.length === 2);
    await sleep(100);
    assert.deepEqual(late.frames, [{ agent_id: "a", data: eth }, { agent_id: "a", data: latency }]);
  } finally {
    await live?.close();
    await late?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("the registry entry builds a live receiver on the dashboard route group", async () => {
  const options = dashboardReceiverType.options.parse({ wsSecret: "s" });
  const receiver = await dashboardReceiverType.create(options, {
    config: { id: "live", type: "dashboard", subscribe: [] },
    dataDir: "unused",
    postgres: () => Promise.reject(new Error("unused")),
  });
  assert.equal(receiver.id, "live");
  assert.equal(receiver.durable, false);
  assert.equal(receiver.routes?.group, "dashboard");
  await receiver.close?.();
});

Deno.test("a missing or wrong secret is 401 with the error shape and no upgrade", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  try {
    const base = `http://127.0.0.1:${server.port}/ws`;
    const attempts: Array<[string, Record<string, string>]> = [
      [base, {}],
      [base, { wssecret: "wrong" }],
      [base, { wssecret: secret + "x" }],
      [base, { "sec-websocket-protocol": "wssecret.wrong" }],
      [base, { "sec-websocket-protocol": secret }],
      [`${base}?wssecret=wrong`, {}],
    ];
    for (const [url, headers] of attempts) {
      const res = await fetch(url, { headers: upgradeHeaders(headers) });
      assert.equal(res.status, 401, `${url} ${JSON.stringify(headers)}`);
      assert.equal(res.headers.get("content-type"), "application/json");
      assert.equal(res.headers.get("sec-websocket-accept"), null);
      const body = await res.json();
      assert.equal(body.error, "unauthorized");
      assert.equal(typeof body.message, "string");
    }
    await assert.rejects(connect(server.url, { headers: { wssecret: "wrong" } }), /did not open/);
    await assert.rejects(connect(server.url, { protocols: ["wssecret.wrong"] }), /did not open/);
    await receiver.receive([message("a1", { type: "information", body: {} })]);
    assert.equal(receiver.stats().clients, 0);
    assert.equal(receiver.stats().sent_total, 0);
  } finally {
    await receiver.close();
    await server.close();
  }
});

Deno.test("a GET that is not a websocket upgrade is 426 with the error shape", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  try {
    const res = await fetch(`http://127.0.0.1:${server.port}/ws`, { headers: { wssecret: secret } });
    assert.equal(res.status, 426);
    assert.equal(res.headers.get("upgrade"), "websocket");
    assert.equal((await res.json()).error, "upgrade_required");
  } finally {
    await receiver.close();
    await server.close();
  }
});

Deno.test("the secret works as a header, as an echoed subprotocol and as a query parameter", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  const clients: Client[] = [];
  try {
    const byHeader = await connect(server.url, { headers: { wssecret: secret } });
    clients.push(byHeader);
    assert.equal(byHeader.ws.protocol, "");
    const byProtocol = await connect(server.url, { protocols: ["other", `wssecret.${secret}`] });
    clients.push(byProtocol);
    assert.equal(byProtocol.ws.protocol, `wssecret.${secret}`);
    const byQuery = await connect(`${server.url}?wssecret=${secret}`);
    clients.push(byQuery);
    await waitFor("three registered clients", () => receiver.stats().clients === 3);

    const data = { type: "statistics", body: { active: true, peers: 3 } };
    await receiver.receive([message("agent-1", data)]);
    for (const client of clients) {
      await waitFor("the message", () => client.frames.length === 1);
      assert.deepEqual(client.frames[0], { agent_id: "agent-1", data });
    }
    assert.equal(receiver.stats().sent_total, 3);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await receiver.close();
    await server.close();
  }
});

Deno.test("a late client gets each agent's latest information, then statistics, then the rest", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  let client: Client | undefined;
  try {
    const statsOld = { type: "statistics", body: { peers: 1 } };
    const statsNew = { type: "statistics", body: { peers: 2 } };
    const info = { type: "information", body: { name: "a" } };
    const block = { type: "block", body: { number: 7 } };
    const history = { type: "history", body: {} };
    const infoB = { type: "information", body: { name: "b" } };
    await receiver.receive([
      message("a", statsOld),
      message("a", block),
      message("a", info),
      message("a", history),
      message("b", infoB),
      message("a", statsNew),
    ]);
    client = await connect(server.url, { headers: { wssecret: secret } });
    await waitFor("the replay", () => client!.frames.length === 4);
    assert.deepEqual(client.frames, [
      { agent_id: "b", data: infoB },
      { agent_id: "a", data: info },
      { agent_id: "a", data: statsNew },
      { agent_id: "a", data: block },
    ]);
    await receiver.receive([message("b", history)]);
    await waitFor("the live message after the replay", () => client!.frames.length === 5);
    assert.deepEqual(client.frames[4], { agent_id: "b", data: history });
  } finally {
    await client?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("an inactive agent is pushed with the exact inactive statistics and replayed as its last", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  const clients: Client[] = [];
  try {
    const info = { type: "information", body: { name: "n" } };
    await receiver.receive([
      message("gone", info),
      message("gone", { type: "statistics", body: { peers: 9 } }),
    ]);
    const live = await connect(server.url, { headers: { wssecret: secret } });
    clients.push(live);
    await waitFor("the replay", () => live.frames.length === 2);
    await receiver.inactive("gone");
    await waitFor("the inactive push", () => live.frames.length === 3);
    assert.deepEqual(live.frames[2], { agent_id: "gone", data: INACTIVE });

    const late = await connect(server.url, { headers: { wssecret: secret } });
    clients.push(late);
    await waitFor("the replay", () => late.frames.length === 2);
    assert.deepEqual(late.frames, [{ agent_id: "gone", data: info }, { agent_id: "gone", data: INACTIVE }]);
    assert.deepEqual(receiver.snapshot(), [{
      agentId: "gone",
      last: { information: info, statistics: INACTIVE },
    }]);
    // Agents that never reported (a /bye under made-up ids): pushed live, never kept for the replay,
    // where they had pushed the real agents' information out.
    for (let i = 0; i < 50; i++) await receiver.inactive(`ghost-${i}`);
    await waitFor("the ghosts pushed live", () => live.frames.length === 53);
    assert.deepEqual(receiver.snapshot().map((a) => a.agentId), ["gone"]);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await receiver.close();
    await server.close();
  }
});

Deno.test("messages from clients are ignored", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  let client: Client | undefined;
  try {
    client = await connect(server.url, { headers: { wssecret: secret } });
    await waitFor("the client", () => receiver.stats().clients === 1);
    client.ws.send("not json");
    client.ws.send(new Uint8Array([1, 2, 3]));
    client.ws.send(JSON.stringify({ agent_id: "x", data: { type: "statistics" } }));
    await sleep(50);
    await receiver.receive([message("a", { type: "pending", body: { pending: 1 } })]);
    await waitFor("the broadcast", () => client!.frames.length === 1);
    assert.deepEqual(client.frames, [{ agent_id: "a", data: { type: "pending", body: { pending: 1 } } }]);
    assert.deepEqual(receiver.snapshot(), [{
      agentId: "a",
      last: { pending: { type: "pending", body: { pending: 1 } } },
    }]);
    assert.equal(receiver.stats().clients, 1);
  } finally {
    await client?.close();
    await receiver.close();
    await server.close();
  }
});

/** Opens a raw TCP websocket handshake that is never read from: a dashboard that hung. */
async function stuckClient(port: number, secret: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const headers = upgradeHeaders({ host: `127.0.0.1:${port}`, wssecret: secret });
  const request = `GET /ws HTTP/1.1\r\n${
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n`;
  await conn.write(new TextEncoder().encode(request));
  return conn;
}

Deno.test("a client that does not read is closed and dropped while a reading client keeps up", async () => {
  const limit = 256 * 1024;
  const { receiver, secret } = dashboard({ maxClientBufferBytes: limit });
  const server = listen(receiver);
  let reader: Client | undefined;
  let stuck: Deno.TcpConn | undefined;
  try {
    reader = await connect(server.url, { headers: { wssecret: secret } });
    stuck = await stuckClient(server.port, secret);
    await waitFor("both clients", () => receiver.stats().clients === 2);

    // Kernel socket buffers (several MiB on loopback) fill first; only then does Deno queue bytes.
    const body = { blob: "x".repeat(64 * 1024) };
    let sent = 0;
    for (let round = 0; round < 400 && receiver.stats().clients_closed_slow === 0; round++) {
      await receiver.receive(Array.from({ length: 4 }, () => message("a", { type: "block", body })));
      sent += 4;
      await sleep(1);
    }
    assert.equal(receiver.stats().clients_closed_slow, 1, `still connected after ${sent} messages`);
    assert.equal(receiver.stats().clients, 1);

    await receiver.receive([message("a", { type: "statistics", body: { peers: 1 } })]);
    sent += 1;
    await waitFor("the reader to get everything", () => reader!.frames.length === sent, 10_000);
    assert.deepEqual(reader.frames.at(-1), {
      agent_id: "a",
      data: { type: "statistics", body: { peers: 1 } },
    });
    assert.equal(reader.ws.readyState, WebSocket.OPEN);
  } finally {
    stuck?.close();
    await reader?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("per address: more sockets are 429 before the upgrade; one dropped as slow counts until it has closed", async () => {
  const limit = 256 * 1024;
  const { receiver, secret } = dashboard({ maxClientBufferBytes: limit, maxClientsPerAddress: 1 });
  const server = listen(receiver);
  const tryUpgrade = () =>
    fetch(`http://127.0.0.1:${server.port}/ws`, { headers: upgradeHeaders({ wssecret: secret }) });
  let stuck: Deno.TcpConn | undefined;
  try {
    stuck = await stuckClient(server.port, secret);
    await waitFor("the stuck client", () => receiver.stats().clients === 1);
    const refused = await tryUpgrade();
    assert.equal(refused.status, 429);
    assert.deepEqual(await refused.json(), {
      error: "too_many_connections",
      message: "at most 1 dashboard connections per address",
    });

    const body = { blob: "x".repeat(64 * 1024) };
    for (let round = 0; round < 400 && receiver.stats().clients_closed_slow === 0; round++) {
      await receiver.receive(Array.from({ length: 4 }, () => message("a", { type: "block", body })));
      await sleep(1);
    }
    assert.equal(receiver.stats().clients_closed_slow, 1);
    assert.equal(receiver.stats().clients, 0);
    // Dropped, but its socket still waits for the peer to read the close frame: still counted.
    const stillRefused = await tryUpgrade();
    assert.equal(stillRefused.status, 429);
    await stillRefused.body?.cancel();

    stuck.close();
    stuck = undefined;
    let admitted: Client | undefined;
    for (let attempt = 0; attempt < 100 && !admitted; attempt++) {
      admitted = await connect(server.url, { headers: { wssecret: secret } }).catch(() => undefined);
      if (!admitted) await sleep(50);
    }
    assert.ok(admitted, "a new client is admitted once the stuck socket has closed");
    await admitted.close();
    assert.equal(receiver.stats().clients_refused >= 2, true);
  } finally {
    stuck?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("a batch far larger than maxClientBufferBytes does not drop a client that reads", async () => {
  const limit = 128 * 1024;
  const { receiver, secret } = dashboard({ maxClientBufferBytes: limit });
  const server = listen(receiver);
  let reader: Client | undefined;
  try {
    reader = await connect(server.url, { headers: { wssecret: secret } });
    await waitFor("the client", () => receiver.stats().clients === 1);
    const body = { blob: "y".repeat(32 * 1024) };
    const batch = Array.from({ length: 64 }, () => message("a", { type: "block", body })); // 2 MiB
    await receiver.receive(batch);
    await receiver.receive(batch);
    await waitFor("every frame", () => reader!.frames.length === 128, 10_000);
    assert.equal(receiver.stats().clients_closed_slow, 0);
    assert.equal(receiver.stats().clients, 1);
  } finally {
    await reader?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("close() closes every client with 1001 and refuses new ones", async () => {
  const { receiver, secret } = dashboard();
  const server = listen(receiver);
  const clients: Client[] = [];
  try {
    clients.push(await connect(server.url, { headers: { wssecret: secret } }));
    clients.push(await connect(`${server.url}?wssecret=${secret}`));
    await waitFor("two clients", () => receiver.stats().clients === 2);
    await receiver.close();
    for (const client of clients) {
      const event = await client.closed;
      assert.equal(event.code, 1001);
    }
    assert.equal(receiver.stats().clients, 0);
    const res = await fetch(`http://127.0.0.1:${server.port}/ws`, {
      headers: upgradeHeaders({ wssecret: secret }),
    });
    assert.equal(res.status, 503);
    assert.equal((await res.json()).error, "unavailable");
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  }
});

Deno.test("a message that is not JSON-serializable is skipped, the rest of the batch goes out", async () => {
  const { receiver } = dashboard();
  await receiver.receive([
    message("a", { type: "statistics", body: { big: 1n } }),
    message("a", { type: "information", body: {} }),
  ]);
  // Without clients nothing is serialized yet: the bad frame is found (and forgotten) when read.
  assert.equal(receiver.stats().skipped_unserializable, 0);
  assert.deepEqual(receiver.snapshot(), [{
    agentId: "a",
    last: { information: { type: "information", body: {} } },
  }]);
  assert.equal(receiver.stats().skipped_unserializable, 1);
  receiver.snapshot();
  assert.equal(receiver.stats().skipped_unserializable, 1);
  await receiver.close();
});

Deno.test("with a client connected, an unserializable message is skipped at once and the rest goes out", async () => {
  const { receiver, secret } = dashboard();
  const listener = listen(receiver);
  const client = await connect(listener.url, { headers: { wssecret: secret } });
  try {
    await waitFor("the client to be registered", () => receiver.stats().clients === 1);
    await receiver.receive([
      message("a", { type: "statistics", body: { big: 1n } }),
      message("a", { type: "information", body: {} }),
    ]);
    assert.equal(receiver.stats().skipped_unserializable, 1);
    await waitFor("the good frame", () => client.frames.length === 1);
    assert.deepEqual(client.frames, [{ agent_id: "a", data: { type: "information", body: {} } }]);
    assert.deepEqual(Object.keys(receiver.snapshot()[0]!.last), ["information"]);
  } finally {
    await client.close();
    receiver.close();
    await listener.close();
  }
});

Deno.test("beyond maxAgents the least recently updated agent is forgotten", async () => {
  const { receiver } = dashboard({ maxAgents: 2 });
  const info = { type: "information", body: {} };
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (line: string) => warnings.push(line);
  try {
    await receiver.receive([message("a", info), message("b", info), message("a", info), message("c", info)]);
    await receiver.receive([message("d", info)]);
  } finally {
    console.warn = warn;
  }
  assert.equal(warnings.length, 1, "told once");
  assert.match(warnings[0]!, /more than maxAgents \(2\) agents report.*set maxAgents above/);
  await receiver.receive([message("c", info)]);
  assert.deepEqual(receiver.snapshot().map((s) => s.agentId), ["d", "c"]);
  assert.equal(receiver.stats().agents_evicted, 2);
  // Snapshots are copies: changing one does not change the receiver.
  receiver.snapshot()[0]!.last["information"]!["type"] = "changed";
  assert.equal(receiver.snapshot()[0]!.last["information"]!["type"], "information");
  await receiver.close();
});

Deno.test("replay state kept with no client is bounded as the texts a late client gets, not as an estimate six times under", async () => {
  const maxReplayBytes = 256 * 1024;
  const { receiver, secret } = dashboard({ maxReplayBytes, maxReplayFrameBytes: 64 * 1024 });
  const server = listen(receiver);
  let client: Client | undefined;
  try {
    // 40 agents' statistics of 10,000 control characters each: about 10 KB each as counted while
    // kept unserialized (400 KB in all: agents go), 60 KB each as JSON text (\u0001 per character).
    const body = { note: "\x01".repeat(10_000) };
    for (let i = 0; i < 40; i++) await receiver.receive([message(`a${i}`, { type: "statistics", body })]);
    assert.ok(receiver.stats().replay_bytes <= maxReplayBytes);
    client = await connect(server.url, { headers: { wssecret: secret } });
    const stats = receiver.stats();
    assert.ok(stats.replay_bytes <= maxReplayBytes, `replay_bytes ${stats.replay_bytes}`);
    const kept = receiver.snapshot().length;
    assert.equal(kept, 4, "four 60 KB texts fit in 256 KB");
    await waitFor("the replay", () => client!.frames.length === kept);
    const received = client.frames.reduce((n: number, f) => n + JSON.stringify(f).length, 0);
    assert.ok(received <= maxReplayBytes, `the replay sent ${received} characters`);
    assert.deepEqual(client.frames.map((f) => (f as { agent_id: string }).agent_id), [
      "a36",
      "a37",
      "a38",
      "a39",
    ]);
  } finally {
    await client?.close();
    await receiver.close();
    await server.close();
  }
});

Deno.test("replay state is bounded in bytes: 400 agents with 1 MB blocks keep none of them; 100 KB reports evict old agents", async () => {
  const { receiver } = dashboard({ maxReplayBytes: 1024 * 1024, maxReplayFrameBytes: 200 * 1024 });
  try {
    const huge = {
      type: "block",
      body: { number: 1, transactions: Array.from({ length: 14_000 }, (_, i) => `0x${i}`.padEnd(66, "0")) },
    };
    for (let i = 0; i < 400; i++) {
      await receiver.receive([
        message(`big-${i}`, { type: "statistics", body: { peers: i } }),
        message(`big-${i}`, huge),
      ]);
    }
    let stats = receiver.stats();
    assert.equal(stats.replay_skipped_large, 400);
    assert.ok(stats.replay_bytes < 100 * 1024, `${stats.replay_bytes}`);
    // their statistics are still replayed; the huge blocks are not
    assert.ok(
      receiver.snapshot().every((a) => a.last["block"] === undefined && a.last["statistics"] !== undefined),
    );

    const medium = { type: "block", body: { number: 2, extra: "y".repeat(100 * 1024) } };
    for (let i = 0; i < 50; i++) await receiver.receive([message(`mid-${i}`, medium)]);
    stats = receiver.stats();
    assert.ok(stats.replay_bytes <= 1024 * 1024, `${stats.replay_bytes}`);
    assert.ok(stats.agents_evicted > 0);
    const kept = receiver.snapshot().map((a) => a.agentId);
    assert.ok(kept.includes("mid-49") && !kept.includes("big-0"), "the least recently heard-from go first");
    // a later small block of an agent replaces its skipped one
    await receiver.receive([message("big-399", { type: "block", body: { number: 3 } })]);
    assert.deepEqual(receiver.snapshot().find((a) => a.agentId === "big-399")?.last["block"], {
      type: "block",
      body: { number: 3 },
    });
  } finally {
    await receiver.close();
  }
});
