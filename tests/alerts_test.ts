/**
 * The `alerts` receiver in the running service: agents log in and report over the protocol, and a
 * real local webhook endpoint gets `inactive` when one says bye or stops pinging, `back` when it
 * reports again.
 */
import assert from "node:assert/strict";
import type { Alert } from "../receivers/alerts.ts";
import { createAgent, eventually } from "./support/agent.ts";
import { block } from "./support/fixtures.ts";
import { startTestService } from "./support/service.ts";

/** A webhook endpoint on 127.0.0.1 recording what it is POSTed. */
function startEndpoint() {
  const controller = new AbortController();
  const received: Alert[] = [];
  const headers: Headers[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
    async (req) => {
      received.push(await req.json());
      headers.push(req.headers);
      return new Response(null, { status: 204 });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}/hooks/poa`,
    received,
    headers,
    async close() {
      controller.abort();
      await server.finished;
    },
  };
}

function blockAt(number: number) {
  return {
    type: "block",
    body: { ...block.body, number, hash: `0x${number.toString(16).padStart(64, "0")}` },
  };
}

Deno.test("service: an alerts receiver posts inactive when an agent says bye or stops pinging, and back when it reports again", async () => {
  const endpoint = startEndpoint();
  const t = await startTestService({
    inactivityTimeoutMs: 400,
    receivers: [{
      id: "alerts",
      type: "alerts",
      subscribe: ["ethereum_metrics"],
      url: endpoint.url,
      headers: { authorization: "Bearer webhook-secret" },
      checkIntervalMs: 50,
      retryBaseMs: 20,
      retryCapMs: 100,
      closeTimeoutMs: 200,
    }],
  });
  try {
    const leaver = await createAgent(t.base, "leaver-" + crypto.randomUUID().slice(0, 8));
    const quiet = await createAgent(t.base, "quiet-" + crypto.randomUUID().slice(0, 8));
    for (const agent of [leaver, quiet]) {
      await agent.ping();
      await agent.send("ethereum_metrics", blockAt(1000));
    }
    const alertsOf = (node: string) => endpoint.received.filter((a) => a.node === node);

    await leaver.bye();
    const [gone] = await eventually(
      () => {
        const got = alertsOf(leaver.id);
        return got.length > 0 ? got : undefined;
      },
      5_000,
      "the inactive alert after bye",
    );
    assert.equal(gone!.event, "inactive");
    assert.equal(gone!.block, 1000);
    assert.equal(endpoint.headers[0]!.get("authorization"), "Bearer webhook-secret");
    assert.equal(endpoint.headers[0]!.get("idempotency-key"), gone!.id);

    // `quiet` stops pinging: inactive after inactivityTimeoutMs
    await eventually(() => alertsOf(quiet.id).length > 0 ? true : undefined, 5_000, "inactive of quiet");
    assert.equal(alertsOf(quiet.id)[0]!.event, "inactive");

    for (const agent of [leaver, quiet]) {
      await agent.ping();
      await agent.send("ethereum_metrics", blockAt(1001));
    }
    for (const agent of [leaver, quiet]) {
      await eventually(
        () => alertsOf(agent.id).length === 2 ? true : undefined,
        5_000,
        `back of ${agent.id}`,
      );
      const back = alertsOf(agent.id)[1]!;
      assert.equal(back.event, "back");
      assert.deepEqual(back.resolved, ["inactive"]);
      assert.equal(back.block, 1001);
    }

    // The endpoint records a POST before the receiver has read the answer: poll.
    const metrics = await eventually(
      async () => {
        const text = await (await fetch(`${t.base}/metrics`)).text();
        return /poa_receiver_stat\{receiver="alerts",stat="alerts_delivered"\} 4\n/.test(text)
          ? text
          : undefined;
      },
      5_000,
      "alerts_delivered 4 in /metrics",
    );
    assert.match(metrics, /poa_receiver_stat\{receiver="alerts",stat="alerts_inactive"\} 2\n/);
    assert.match(metrics, /poa_receiver_stat\{receiver="alerts",stat="alerts_back"\} 2\n/);
    assert.ok(!metrics.includes("webhook-secret"), "header values are never shown");
  } finally {
    await t.close();
    await endpoint.close();
  }
});

Deno.test("service: a graceful stop raises no alert for the ethstats nodes whose sockets it closes", async () => {
  // A planned restart had paged once per ethstats node (inactive at the stop, back after the start).
  const endpoint = startEndpoint();
  const t = await startTestService({
    ethstats: { enabled: true, sharedSecret: "alerts-test-shared-secret" },
    receivers: [{
      id: "alerts",
      type: "alerts",
      subscribe: ["ethereum_metrics"],
      url: endpoint.url,
      checkIntervalMs: 50,
      retryBaseMs: 20,
      retryCapMs: 100,
      closeTimeoutMs: 500,
    }],
  });
  let stopped = false;
  try {
    const ws = new WebSocket(`${t.base.replace("http", "ws")}/api`);
    const frames: string[] = [];
    ws.onmessage = (e) => frames.push(String(e.data));
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const closed = new Promise((resolve) => ws.onclose = resolve);
    ws.send(JSON.stringify({
      emit: ["hello", {
        id: "geth-stop",
        info: { name: "geth-stop", node: "Geth/v1.14.0", net: "1", canUpdateHistory: true },
        secret: "alerts-test-shared-secret",
      }],
    }));
    await eventually(() => frames.some((f) => f.includes('"ready"')) || undefined, 5_000, "logged in");
    await eventually(
      async () => {
        const text = await (await fetch(`${t.base}/metrics`)).text();
        return /poa_receiver_stat\{receiver="alerts",stat="nodes"\} 1\n/.test(text) || undefined;
      },
      5_000,
      "the node known to the alerts receiver",
    );
    await t.stop();
    stopped = true;
    await closed;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.deepEqual(endpoint.received.map((a) => `${a.event} ${a.node}`), []);
  } finally {
    if (!stopped) await t.stop();
    await Deno.remove(t.dataDir, { recursive: true }).catch(() => {});
    await endpoint.close();
  }
});
