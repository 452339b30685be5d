import assert from "node:assert/strict";
import { freePort, localNatsServer, natsServerBinary } from "../tasks/process.ts";
import { agentIdOf, agentKey, createClusterActivityMonitor } from "./activity.ts";
import { connectNats } from "./nats.ts";
import type { ActivityMonitor } from "../core/activity.ts";

Deno.test("activity: any agent id maps to a valid KV key and back", () => {
  for (
    const id of ["agent-1", "node.with.dots", "spaces and * > wildcards", "ünïcødé 🚀", "a".repeat(256), "="]
  ) {
    const key = agentKey(id);
    assert.match(key, /^[A-Za-z0-9_-]+$/);
    assert.equal(agentIdOf(key), id);
  }
});

const nats = await natsServerBinary().catch(() => null);

Deno.test({
  name:
    "cluster activity: agents are forgotten as the bucket forgets them, at most maxRemembered (ids are whatever agents send)",
  ignore: nats === null && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    const port = freePort("127.0.0.1");
    const store = await Deno.makeTempDir({ prefix: "activity-nats-" });
    const server = localNatsServer(nats!, port, ["-js", "-sd", store]);
    await server.start();
    const runtime = await connectNats({
      servers: `127.0.0.1:${port}`,
      stream: "ACT",
      replicas: 1,
      maxAgeSeconds: 3600,
      ackWaitSeconds: 30,
      publishTimeoutMs: 2000,
      outboxMaxBytes: 1 << 20,
    }, { log: () => {} });
    let clock = Date.now();
    const monitor = await createClusterActivityMonitor(runtime, {
      timeoutMs: 60_000,
      onInactive: () => {},
      maxRemembered: 100,
      sweepIntervalMs: 3_600_000, // swept by hand below
      now: () => clock,
    });
    try {
      for (let i = 0; i < 500; i++) monitor.ping(`agent-${i}`);
      // Before: every id ever seen stayed, for good.
      assert.equal(monitor.knownAgents, 100);
      monitor.ping("agent-499");
      clock += 2 * 3_600_000; // past the bucket's TTL (1 h)
      monitor.ping("late");
      monitor.sweep();
      assert.equal(monitor.knownAgents, 1);
    } finally {
      monitor.close();
      await runtime.close();
      await server.kill();
      await Deno.remove(store, { recursive: true });
    }
  },
});

/**
 * Two instances' monitors on one nats-server (a fresh store), `timeoutMs` each, sweeping every 50 ms;
 * `reported` lists "<instance>:<agent>" as each reports one inactive. Everything is closed after `fn`.
 */
async function withTwoInstances(
  timeoutMs: number,
  fn: (t: {
    server: ReturnType<typeof localNatsServer>;
    monitors: [ActivityMonitor, ActivityMonitor];
    reported: string[];
  }) => Promise<void>,
): Promise<void> {
  const port = freePort("127.0.0.1");
  const store = await Deno.makeTempDir({ prefix: "activity-nats-" });
  const server = localNatsServer(nats!, port, ["-js", "-sd", store]);
  await server.start();
  const connect = () =>
    connectNats({
      servers: `127.0.0.1:${port}`,
      stream: "ACT",
      replicas: 1,
      maxAgeSeconds: 3600,
      ackWaitSeconds: 30,
      publishTimeoutMs: 500,
      outboxMaxBytes: 1 << 20,
    }, { log: () => {} });
  const runtimes = [await connect(), await connect()];
  const reported: string[] = [];
  const monitors = await Promise.all(runtimes.map((runtime, i) =>
    createClusterActivityMonitor(runtime, {
      timeoutMs,
      onInactive: (id) => reported.push(`${i}:${id}`),
      sweepIntervalMs: 50,
    })
  ));
  try {
    await fn({ server, monitors: monitors as [ActivityMonitor, ActivityMonitor], reported });
  } finally {
    for (const monitor of monitors) monitor.close();
    server.signal("SIGCONT"); // a test may have left it stopped
    for (const runtime of runtimes) await runtime.close();
    await server.kill();
    await Deno.remove(store, { recursive: true });
  }
}

Deno.test({
  name:
    "cluster activity: NATS paused while an agent keeps pinging one instance: no instance reports it inactive after NATS is back (its pings could not be recorded meanwhile)",
  ignore: nats === null && !Deno.env.get("CI"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withTwoInstances(1000, async ({ server, monitors, reported }) => {
      const pinging = setInterval(() => monitors[0].ping("alive"), 200);
      try {
        monitors[1].ping("gone"); // pings once, then stops: reported once, after the pause
        await new Promise((r) => setTimeout(r, 800));
        server.signal("SIGSTOP");
        await new Promise((r) => setTimeout(r, 3000));
        server.signal("SIGCONT");
        await new Promise((r) => setTimeout(r, 4000));
        assert.deepEqual(reported.filter((r) => r.endsWith(":alive")), []);
        assert.equal(reported.filter((r) => r.endsWith(":gone")).length, 1, reported.join());
      } finally {
        clearInterval(pinging);
      }
    }),
});

Deno.test({
  name:
    "cluster activity: an agent handed over by a stopping instance is reported only if no ping comes within the grace, past the timeout",
  ignore: nats === null && !Deno.env.get("CI"),
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () =>
    withTwoInstances(500, async ({ monitors, reported }) => {
      const [stopping, other] = monitors;
      let pinging: ReturnType<typeof setInterval> | undefined;
      try {
        for (const id of ["silent", "moving", "leaving"]) stopping.ping(id);
        await new Promise((r) => setTimeout(r, 300));
        const started = Date.now();
        stopping.handOver!("moving", 2500);
        stopping.handOver!("leaving", 2500);
        await new Promise((r) => setTimeout(r, 100));
        stopping.close(); // the instance is gone: the other one decides
        await new Promise((r) => setTimeout(r, 1400)); // past the timeout (500 ms + 50 ms)
        assert.deepEqual(reported, ["1:silent"], "only the agent not handed over");
        pinging = setInterval(() => other.ping("moving"), 200); // connected again, to the other instance
        while (!reported.some((r) => r.endsWith(":leaving")) && Date.now() - started < 6000) {
          await new Promise((r) => setTimeout(r, 50));
        }
        const after = Date.now() - started;
        assert.ok(after >= 2400 && after < 6000, `leaving reported ${after} ms after its hand-over`);
        await new Promise((r) => setTimeout(r, 1000));
        assert.deepEqual(reported, ["1:silent", "1:leaving"]);
      } finally {
        clearInterval(pinging);
      }
    }),
});
