/**
 * Cluster mode end to end: real nats-servers (JetStream, file storage; one node, or a 3-node
 * cluster), a real Postgres and three instances as processes behind HAProxy (tasks/cluster.ts).
 */
import assert from "node:assert/strict";
import { type LocalCluster, startLocalCluster } from "../tasks/cluster.ts";
import { haproxyBinary, natsServerBinary } from "../tasks/process.ts";
import { agentSession, report } from "./support/agent.ts";
import { wsClient } from "./support/ws.ts";
import { connect } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { block, information, statisticsSynced } from "./support/fixtures.ts";
import { HANDOVER_GRACE_MS } from "../ingress/ethstats/sessions.ts";
import { ADMIN, adminAuth, basic } from "./support/harness.ts";
import { startTestPostgres, type TestPostgres } from "./support/postgres.ts";
import { runSimulation } from "../bench/sim.ts";

const METRICS = ["ethereum_metrics", "networking_metrics", "system_metrics"];

const haveNats = await natsServerBinary().then(() => true, () => false) &&
  await haproxyBinary().then(() => true, () => false);
if (!haveNats && !Deno.env.get("CI")) {
  console.warn(
    "cluster_test: nats-server or haproxy is missing (apt-get install nats-server haproxy): the cluster tests are skipped",
  );
}

/** Runs `fn` against a fresh cluster; prints the processes' last output when it fails. */
async function withCluster(
  config: Record<string, unknown>,
  fn: (cluster: LocalCluster, pg: TestPostgres, dir: string) => Promise<void>,
  shape: { natsNodes?: number; natsMaxPayload?: number } = {},
): Promise<void> {
  const pg = await startTestPostgres();
  const dir = await Deno.makeTempDir({ prefix: "poa-cluster-test-" });
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startLocalCluster({
      dir,
      databaseUrl: pg.url,
      admin: ADMIN,
      natsNodes: shape.natsNodes ?? 1, // one node unless the test is about the NATS cluster
      natsMaxPayload: shape.natsMaxPayload,
      log: () => {},
      config: {
        receivers: [
          { id: "dashboard", type: "dashboard", subscribe: METRICS },
          { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
        ],
        ethstats: { enabled: false },
        shutdownTimeoutMs: 3000,
        stopDelayMs: 0, // the runner's 3 s, for the balancer's checks, only where a test is about it
        ...config,
      },
    });
    await fn(cluster, pg, dir);
  } catch (err) {
    if (cluster) {
      for (const p of [...cluster.instances, ...cluster.nats, cluster.balancer]) {
        console.error(`--- ${p.name} ---\n${p.output().split("\n").slice(-25).join("\n")}`);
      }
    }
    throw err;
  } finally {
    await cluster?.close();
    await pg.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

interface Frame {
  agent_id: string;
  data: { type?: string; body?: Record<string, unknown> };
}

/** A dashboard websocket client collecting frames. */
function dashboard(base: string, secret: string) {
  return wsClient<Frame>(base.replace("http", "ws") + "/ws", { wssecret: secret });
}

async function until(
  predicate: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function post(
  base: string,
  path: string,
  token: string,
  body: unknown,
  client?: Deno.HttpClient,
  headers: Record<string, string> = {},
): Promise<number> {
  const res = await fetch(`${base}${path}`, {
    client,
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  await res.body?.cancel();
  return res.status;
}

const isInactive = (f: Frame) => f.data.type === "statistics" && f.data.body?.active === false;

/**
 * Agents send statistics through the balancer until `total` were accepted; `disrupt` runs once
 * `disruptAt` were. Every agent id is unique, so each accepted report must be one eth_stats row.
 */
async function loadWithDisruption(
  cluster: LocalCluster,
  token: string,
  options: {
    total: number;
    disruptAt: number;
    workers: number;
    disrupt: () => Promise<void>;
    deadlineMs: number;
  },
): Promise<{ accepted: Set<string>; failed: number }> {
  const accepted = new Set<string>();
  let failed = 0;
  let disrupted: Promise<void> | undefined;
  const deadline = Date.now() + options.deadlineMs;
  // No pooled connections: fetch resends a POST whose reused connection died (an agent's retry,
  // stored twice by design: each request is a new report). A fresh connection is never retried.
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  await Promise.all(Array.from({ length: options.workers }, async (_, w) => {
    for (let i = 0; accepted.size < options.total && Date.now() < deadline; i++) {
      const id = `load-${w}-${i}`;
      let status = 0;
      try {
        status = await post(cluster.url, "/data", token, {
          id,
          type: "ethereum_metrics",
          data: statisticsSynced,
        }, client);
      } catch {
        status = 0; // the connection went down with the instance
      }
      if (status === 200) accepted.add(id);
      else {
        failed++;
        await new Promise((r) => setTimeout(r, 20));
      }
      if (!disrupted && accepted.size >= options.disruptAt) disrupted = options.disrupt();
    }
  }));
  await disrupted;
  assert.ok(
    accepted.size >= options.total,
    `only ${accepted.size} accepted before the deadline (${failed} failed)`,
  );
  return { accepted, failed };
}

/**
 * Agents that send each report again until it is answered 200 (an error status or a cut
 * connection alike), through the balancer; with `keyed`, each report carries its id as
 * Idempotency-Key. `onAccepted` sees the count after each 200.
 */
async function resendingLoad(
  cluster: LocalCluster,
  token: string,
  options: { total: number; prefix: string; keyed?: boolean; onAccepted(count: number): void },
): Promise<{ accepted: Set<string>; errors: Map<number, number> }> {
  const accepted = new Set<string>();
  const errors = new Map<number, number>();
  using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < options.total) {
      const id = `${options.prefix}-${next++}`;
      const headers: Record<string, string> = options.keyed ? { "idempotency-key": id } : {};
      for (let attempt = 0;; attempt++) {
        let status = 0;
        try {
          status = await post(
            cluster.url,
            "/data",
            token,
            {
              id,
              type: "ethereum_metrics",
              data: statisticsSynced,
            },
            client,
            headers,
          );
        } catch {
          status = 0; // the connection went down with what served it
        }
        if (status === 200) break;
        errors.set(status, (errors.get(status) ?? 0) + 1);
        assert.ok(attempt < 400, `${id}: no 200 after 400 attempts`);
        await new Promise((r) => setTimeout(r, 50));
      }
      accepted.add(id);
      options.onAccepted(accepted.size);
    }
  }));
  return { accepted, errors };
}

/** Waits until every accepted id has its eth_stats row, then checks each is there exactly once. */
async function assertStoredOnce(pg: TestPostgres, accepted: Set<string>, timeoutMs: number): Promise<void> {
  const count = async () => {
    const [row] = await pg.sql<{ n: number }[]>`
      select count(distinct agent_id)::int as n from eth_stats where agent_id = any(${[...accepted]})`;
    return row?.n ?? 0;
  };
  await until(async () => (await count()) === accepted.size, timeoutMs, `${accepted.size} rows`).catch(
    async (err) => {
      throw new Error(`${(err as Error).message}; have ${await count()}`);
    },
  );
  const dupes = await pg
    .sql`select agent_id, count(*)::int as n from eth_stats group by agent_id having count(*) > 1`;
  assert.deepEqual([...dupes], [], "reports stored more than once");
}

Deno.test({
  name:
    "cluster: dashboards see every agent, bans and deactivations reach every instance within 1 s, alternating pings never flap",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn(t) {
    await withCluster({ inactivityTimeoutMs: 1000 }, async (cluster, pg) => {
      const [a, b, c] = cluster.instances.map((i) => i.url) as [string, string, string];

      await t.step(
        "blocks are filtered out of eth_stats at its consumer and acked; statistics are stored",
        async () => {
          const token = await agentSession(a);
          for (const [i, base] of [a, b, c].entries()) {
            for (let n = 0; n < 2; n++) {
              assert.equal(
                await post(base, "/data", token, { id: "filter", type: "ethereum_metrics", data: block }),
                200,
              );
            }
            assert.equal(
              await post(base, "/data", token, {
                id: `filter-${i}`,
                type: "ethereum_metrics",
                data: statisticsSynced,
              }),
              200,
            );
          }
          await until(
            async () => {
              const [row] = await pg.sql<{ n: number }[]>`
            select count(*)::int as n from eth_stats where agent_id like 'filter-%'`;
              return row!.n === 3;
            },
            10_000,
            "the three statistics rows",
          );
          const filtered = async () => {
            let sum = 0;
            for (const base of [a, b, c]) {
              const text = await (await fetch(`${base}/metrics`)).text();
              const m = /^poa_receiver_filtered_total\{receiver="eth_stats"\} (\d+)$/m.exec(text);
              sum += Number(m?.[1] ?? 0);
            }
            return sum;
          };
          await until(async () => (await filtered()) === 6, 5000, "six blocks filtered");
          // Acked at once, not left for redelivery: nothing pending on eth_stats's consumers.
          const nc = await connect({ servers: cluster.nats[0]!.url });
          try {
            const jsm = await jetstreamManager(nc);
            await until(
              async () => {
                let pending = 0;
                for await (const info of jsm.consumers.list("POA")) {
                  if (info.name.startsWith("eth_stats")) pending += info.num_ack_pending + info.num_pending;
                }
                return pending === 0;
              },
              5000,
              "eth_stats consumers with nothing pending",
            );
          } finally {
            await nc.close();
          }
        },
      );

      await t.step("a dashboard client on each instance sees the agents of every instance", async () => {
        const clients = await Promise.all([a, b, c].map((base) => dashboard(base, cluster.wsSecret)));
        try {
          const agents = ["spread-a", "spread-b", "spread-c"];
          await Promise.all([a, b, c].map(async (base, i) => {
            const token = await agentSession(base);
            await report(base, token, "/data", {
              id: agents[i],
              type: "ethereum_metrics",
              data: information,
            });
          }));
          for (const client of clients) {
            await until(
              () =>
                agents.every((id) =>
                  client.frames.some((f) => f.agent_id === id && f.data.type === "information")
                ),
              5000,
              "every agent on every dashboard",
            );
          }
          // Each report once per client, not once per instance.
          for (const client of clients) {
            assert.equal(client.frames.filter((f) => agents.includes(f.agent_id)).length, 3);
          }
          // Sent again with its Idempotency-Key through another instance: JetStream keeps the first
          // copy, and no feed shows the second (each instance hears that publish all the same).
          const token = await agentSession(a);
          for (const base of [a, b]) {
            const keyed = { id: "keyed-resend", type: "ethereum_metrics", data: information };
            assert.equal(
              await post(base, "/data", token, keyed, undefined, { "idempotency-key": "k-1" }),
              200,
            );
          }
          for (const client of clients) {
            await until(
              () => client.frames.some((f) => f.agent_id === "keyed-resend"),
              5000,
              "the keyed report",
            );
          }
          await new Promise((r) => setTimeout(r, 300)); // a second copy would arrive by now
          for (const client of clients) {
            assert.equal(client.frames.filter((f) => f.agent_id === "keyed-resend").length, 1);
          }
        } finally {
          await Promise.all(clients.map((x) => x.close()));
        }
      });

      await t.step("a token banned through A is refused by B and C within 1 s", async () => {
        const token = await agentSession(a);
        for (const base of [b, c]) assert.equal(await post(base, "/ping", token, { id: "banned" }), 200);
        const ban = await fetch(`${a}/blacklist/token`, {
          method: "POST",
          headers: { ...adminAuth, "content-type": "application/json" },
          body: JSON.stringify({ token }),
        });
        assert.equal(ban.status, 200);
        await ban.body?.cancel();
        const bannedAt = Date.now();
        await Promise.all(
          [b, c].map((base) =>
            until(
              async () => (await post(base, "/ping", token, { id: "banned" })) === 401,
              1000,
              `ban at ${base}`,
            )
          ),
        );
        assert.ok(Date.now() - bannedAt <= 1000);
      });

      await t.step(
        "a user deactivated through B, or deleted through C, is refused everywhere within 1 s",
        async () => {
          for (const [via, op] of [[b, "deactivate"], [c, "delete"]] as const) {
            const user = "u" + crypto.randomUUID().slice(0, 8);
            const created = await fetch(`${a}/user`, {
              method: "POST",
              headers: { ...adminAuth, "content-type": "application/json" },
              body: JSON.stringify({ "user-name": user, password: "a-long-password" }),
            });
            assert.equal(created.status, 200);
            await created.body?.cancel();
            const session = await fetch(`${c}/session`, {
              method: "POST",
              headers: { authorization: basic(user, "a-long-password") },
            });
            const { token } = await session.json();
            for (const base of [a, b, c]) assert.equal(await post(base, "/ping", token, { id: user }), 200);
            const res = op === "deactivate"
              ? await fetch(`${via}/user/${user}`, {
                method: "PATCH",
                headers: { ...adminAuth, "content-type": "application/json" },
                body: JSON.stringify({ active: false }),
              })
              : await fetch(`${via}/user/${user}`, { method: "DELETE", headers: adminAuth });
            assert.equal(res.status, 204);
            await res.body?.cancel();
            const at = Date.now();
            await Promise.all([a, b, c].map((base) =>
              until(
                async () => (await post(base, "/ping", token, { id: user })) === 401,
                1000,
                `${op} at ${base}`,
              )
            ));
            assert.ok(Date.now() - at <= 1000);
          }
        },
      );

      await t.step(
        "pings alternating between instances never flap; silence and bye are reported once on every dashboard",
        async () => {
          const clients = await Promise.all([a, b, c].map((base) => dashboard(base, cluster.wsSecret)));
          try {
            const tokens = await Promise.all([a, b, c].map((base) => agentSession(base)));
            const bases = [a, b, c];
            // 3.5 timeouts of pings every 400 ms, each to the next instance.
            for (let i = 0; i < 9; i++) {
              assert.equal(await post(bases[i % 3]!, "/ping", tokens[i % 3]!, { id: "alternating" }), 200);
              await new Promise((r) => setTimeout(r, 400));
            }
            for (const client of clients) {
              assert.deepEqual(
                client.frames.filter((f) => f.agent_id === "alternating" && isInactive(f)),
                [],
                "flapped",
              );
            }
            // Silent now: one inactive report on every dashboard after ~1 s, and no second one.
            await Promise.all(
              clients.map((client) =>
                until(
                  () => client.frames.some((f) => f.agent_id === "alternating" && isInactive(f)),
                  4000,
                  "inactive",
                )
              ),
            );
            assert.equal(await post(b, "/bye", tokens[1]!, { id: "leaving" }), 200);
            await Promise.all(
              clients.map((client) =>
                until(() => client.frames.some((f) => f.agent_id === "leaving" && isInactive(f)), 2000, "bye")
              ),
            );
            await new Promise((r) => setTimeout(r, 1500));
            for (const client of clients) {
              assert.equal(
                client.frames.filter((f) => f.agent_id === "alternating" && isInactive(f)).length,
                1,
              );
              assert.equal(client.frames.filter((f) => f.agent_id === "leaving" && isInactive(f)).length, 1);
            }
          } finally {
            await Promise.all(clients.map((x) => x.close()));
          }
        },
      );
    });
  },
});

Deno.test({
  name: "cluster: SIGKILL of an instance under load: every accepted statistics report is stored exactly once",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({ cluster: { nats: { ackWaitSeconds: 2 } } }, async (cluster, pg) => {
      const token = await agentSession(cluster.instances[0]!.url);
      const { accepted } = await loadWithDisruption(cluster, token, {
        total: 1000,
        disruptAt: 300,
        workers: 8,
        deadlineMs: 60_000,
        disrupt: () => cluster.instances[1]!.kill("SIGKILL"),
      });
      assert.equal(cluster.instances[1]!.running, false);
      // What the killed instance held unacked is redelivered to the others after ackWait (2 s).
      await assertStoredOnce(pg, accepted, 20_000);
    });
  },
});

Deno.test({
  name: "cluster: restarting nats-server under load loses nothing that was acknowledged",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({}, async (cluster, pg) => {
      const token = await agentSession(cluster.instances[0]!.url);
      const { accepted } = await loadWithDisruption(cluster, token, {
        total: 1000,
        disruptAt: 300,
        workers: 8,
        deadlineMs: 60_000,
        disrupt: async () => {
          await cluster.nats[0]!.kill("SIGKILL");
          await new Promise((r) => setTimeout(r, 500));
          await cluster.nats[0]!.start();
        },
      });
      await assertStoredOnce(pg, accepted, 20_000);
    });
  },
});

Deno.test({
  name:
    "cluster: nats-server paused (SIGSTOP) under load, agents resending what got an error: every report stored once and shown once",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({ cluster: { nats: { publishTimeoutMs: 1000 } } }, async (cluster, pg) => {
      const token = await agentSession(cluster.instances[0]!.url);
      // A live feed on every instance: each must show each report once, wherever it came in.
      const feeds = await Promise.all(cluster.instances.map((i) => dashboard(i.url, cluster.wsSecret)));
      const total = 600;
      let paused: Promise<void> | undefined;
      const { accepted, errors } = await resendingLoad(cluster, token, {
        total,
        prefix: "resend",
        onAccepted(count) {
          if (!paused && count >= 200) {
            paused = (async () => {
              cluster.nats[0]!.signal("SIGSTOP");
              await new Promise((r) => setTimeout(r, 4000));
              cluster.nats[0]!.signal("SIGCONT");
            })();
          }
        },
      });
      await paused;
      await assertStoredOnce(pg, accepted, 30_000);
      const shown = (f: Frame) => f.agent_id.startsWith("resend-") && !isInactive(f);
      for (const [i, feed] of feeds.entries()) {
        await until(
          () => new Set(feed.frames.filter(shown).map((f) => f.agent_id)).size === total,
          20_000,
          `feed ${i}`,
        );
        await new Promise((r) => setTimeout(r, 500)); // a late duplicate would arrive by now
        const seen = new Map<string, number>();
        for (const f of feed.frames.filter(shown)) seen.set(f.agent_id, (seen.get(f.agent_id) ?? 0) + 1);
        const twice = [...seen].filter(([, n]) => n > 1);
        assert.deepEqual(twice, [], `instance ${i} showed reports more than once`);
      }
      // The pause sent reports through the outboxes (200 after publishTimeoutMs), not back as errors.
      const outboxed = await Promise.all(cluster.instances.map(async (i) => {
        const text = await (await fetch(`${i.url}/metrics`)).text();
        return Number(/poa_cluster_outbox\{stat="accepted_total"\} (\d+)/.exec(text)?.[1] ?? 0);
      }));
      assert.ok(outboxed.reduce((a, b) => a + b, 0) > 0, `no report went through an outbox: ${outboxed}`);
      console.log(
        `outboxed per instance ${outboxed.join(", ")}; errors answered: ${JSON.stringify([...errors])}`,
      );
      await Promise.all(feeds.map((f) => f.close()));
    });
  },
});

Deno.test({
  name:
    "cluster: with nats-server frozen, every /data answers within publishTimeoutMs (from the outbox), also behind batches in flight",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({ cluster: { nats: { publishTimeoutMs: 2000 } } }, async (cluster) => {
      const url = cluster.instances[0]!.url;
      const token = await agentSession(url);
      cluster.nats[0]!.signal("SIGSTOP");
      try {
        // Waves 150 ms apart: the first two go out as batches awaiting their acks, the later ones
        // wait for those. Before: a later one waited for an in-flight batch's whole timeout, then
        // for its own (3.7-4 s).
        const timed = async (i: number) => {
          const started = Date.now();
          await report(url, token, "/data", {
            id: `wave-${i}`,
            type: "ethereum_metrics",
            data: statisticsSynced,
          });
          return Date.now() - started;
        };
        const waves: Promise<number[]>[] = [];
        for (let w = 0; w < 5; w++) {
          waves.push(Promise.all(Array.from({ length: 10 }, (_, i) => timed(w * 10 + i))));
          await new Promise((r) => setTimeout(r, 150));
        }
        const took = (await Promise.all(waves)).flat();
        assert.ok(Math.max(...took) < 2_900, `answered after ${took.join(", ")} ms`);
      } finally {
        cluster.nats[0]!.signal("SIGCONT");
      }
    });
  },
});

Deno.test({
  name: "cluster: SIGTERM stops an instance within its bounds while nats-server is frozen",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster(
      { shutdownTimeoutMs: 2000, cluster: { nats: { publishTimeoutMs: 500 } } },
      async (cluster) => {
        const token = await agentSession(cluster.instances[1]!.url);
        cluster.nats[0]!.signal("SIGSTOP");
        try {
          // A report in the outbox: the instance has a publish to try while it stops.
          await report(cluster.instances[1]!.url, token, "/data", {
            id: "frozen-nats",
            type: "ethereum_metrics",
            data: statisticsSynced,
          });
          const started = Date.now();
          await cluster.instances[1]!.kill("SIGTERM"); // SIGKILL after 20 s
          const took = Date.now() - started;
          // Before: it waited for NATS for good (the drain of the connection), past 25 s.
          assert.ok(took < 12_000, `stopped after ${took} ms`);
          assert.ok(!/signal SIGKILL/.test(cluster.instances[1]!.output()), cluster.instances[1]!.output());
        } finally {
          cluster.nats[0]!.signal("SIGCONT");
        }
      },
    );
  },
});

Deno.test({
  name:
    "cluster: Postgres frozen: uncached logins and admin calls answer 503 + Retry-After within authStoreTimeoutMs, tokens keep working",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({ authStoreTimeoutMs: 1000 }, async (cluster, pg) => {
      const url = cluster.instances[0]!.url;
      const token = await agentSession(url);
      const password = "password-" + crypto.randomUUID();
      const created = await fetch(`${url}/user`, {
        method: "POST",
        headers: { ...adminAuth, "content-type": "application/json" },
        body: JSON.stringify({ "user-name": "late-comer", password }),
      });
      assert.equal(created.status, 200);
      await created.body?.cancel();
      await pg.freeze(true);
      try {
        const timed = async (what: string, init: RequestInit & { path: string }) => {
          const started = Date.now();
          const res = await fetch(`${url}${init.path}`, init);
          const ms = Date.now() - started;
          const body = await res.json();
          assert.equal(res.status, 503, `${what}: ${res.status} ${JSON.stringify(body)}`);
          assert.equal(body.error, "auth_store_unavailable", what);
          assert.equal(res.headers.get("retry-after"), "5", what);
          assert.ok(ms < 3000, `${what} took ${ms} ms`);
        };
        // A user this instance has not verified yet: its hash is in Postgres.
        await timed("uncached login", {
          path: "/session",
          method: "POST",
          headers: { authorization: basic("late-comer", password) },
        });
        await timed("admin create", {
          path: "/user",
          method: "POST",
          headers: { ...adminAuth, "content-type": "application/json" },
          body: JSON.stringify({ "user-name": "another", password }),
        });
        // Token checks are answered from memory.
        assert.equal(await post(url, "/ping", token, { id: "frozen-db-agent" }), 200);
      } finally {
        await pg.freeze(false);
      }
      const login = await fetch(`${url}/session`, {
        method: "POST",
        headers: { authorization: basic("late-comer", password) },
      });
      assert.equal(login.status, 200);
      await login.body?.cancel();
      // The 503 changed nothing: before, the INSERT the frozen server had taken in was made when it
      // resumed, and the admin's resend got 409 user_exists (a generated password lost for good).
      const resent = await fetch(`${url}/user`, {
        method: "POST",
        headers: { ...adminAuth, "content-type": "application/json" },
        body: JSON.stringify({ "user-name": "another", password }),
      });
      assert.equal(resent.status, 200, JSON.stringify(await resent.json()));
    });
  },
});

Deno.test({
  name:
    "cluster: the NATS node leading the eth_stats consumer killed: rows of later reports come within 22 s",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({}, async (cluster, pg) => {
      const token = await agentSession(cluster.instances[0]!.url);
      const url = cluster.instances[0]!.url;
      const stored = async (id: string) =>
        (await pg.sql<{ n: number }[]>`select count(*)::int as n from eth_stats where agent_id = ${id}`)[0]!
          .n > 0;
      assert.equal(
        await post(url, "/data", token, { id: "before", type: "ethereum_metrics", data: statisticsSynced }),
        200,
      );
      await until(() => stored("before"), 10_000, "the first row");
      const leader = await consumerLeader(cluster.nats[0]!.url, "eth_stats");
      const node = cluster.nats.find((n) => n.name === leader)!;
      assert.ok(node, `leader ${leader} among ${cluster.nats.map((n) => n.name)}`);
      node.signal("SIGKILL");
      const killedAt = Date.now();
      // A report every 200 ms from now on (each its own agent): the first of them stored ends the wait.
      const sent: string[] = [];
      let done = false;
      const sending = (async () => {
        for (let i = 0; !done && Date.now() - killedAt < 60_000; i++) {
          const id = `after-${i}`;
          if (
            await post(url, "/data", token, { id, type: "ethereum_metrics", data: statisticsSynced }).catch(
              () => 0,
            ) === 200
          ) {
            sent.push(id);
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })();
      try {
        await until(async () => sent.length > 0 && await stored(sent[0]!), 60_000, "a later report's row");
      } finally {
        done = true;
        await sending;
      }
      const waited = Date.now() - killedAt;
      console.log(`first row after the leader's kill: ${waited} ms`);
      // Before: ~45 s (a pull request to the dead leader is given up after the library's 30 s expiry).
      assert.ok(waited < 22_000, `${waited} ms`); // 10-14 s here now
    }, { natsNodes: 3 });
  },
});

/** The NATS server name of the leader of `receiver`'s consumer on the reports stream. */
async function consumerLeader(url: string, receiver: string): Promise<string> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const stream = (await jsm.streams.names().next()).find((n) => !n.startsWith("KV_"))!;
    for (const c of await jsm.consumers.list(stream).next()) {
      if (c.name.startsWith(receiver)) return c.cluster!.leader!;
    }
    throw new Error(`no consumer of ${receiver}`);
  } finally {
    await nc.close();
  }
}

/** Replicas of the activity KV bucket's stream; `set` changes them (after reading). */
async function activityReplicas(url: string, set?: number): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const name = (await jsm.streams.names().next()).find((n) => n.startsWith("KV_"))!;
    const { config } = await jsm.streams.info(name);
    if (set !== undefined) await jsm.streams.update(name, { ...config, num_replicas: set });
    return config.num_replicas;
  } finally {
    await nc.close();
  }
}

Deno.test({
  name:
    "cluster: 3-node NATS cluster, one NATS node and one instance killed under load: the supervisor restarts both, every report stored once",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({ cluster: { nats: { ackWaitSeconds: 2 } } }, async (cluster, pg, dir) => {
      assert.equal(cluster.nats.length, 3);
      // The agents' activity bucket is replicated as the stream is (it had 1 replica: with its node
      // down no instance could start). One made before with 1 is scaled up by the next start.
      assert.equal(await activityReplicas(cluster.nats[0]!.url), 3);
      await activityReplicas(cluster.nats[0]!.url, 1);
      const token = await agentSession(cluster.instances[0]!.url);
      let crashed = false;
      const { accepted, errors } = await resendingLoad(cluster, token, {
        total: 1000,
        prefix: "crash",
        keyed: true, // a request cut when its instance died is resent with the same key
        onAccepted(count) {
          if (!crashed && count >= 300) {
            crashed = true;
            cluster.nats[1]!.signal("SIGKILL"); // crashes, as far as the runner knows
            cluster.instances[1]!.signal("SIGKILL");
          }
        },
      });
      assert.ok(crashed);
      await assertStoredOnce(pg, accepted, 30_000);
      // Started again by the supervisor, and ready: the instance passes its health check.
      const healthy = async () => {
        const res = await fetch(`${cluster.instances[1]!.url}/healthz`).catch(() => undefined);
        await res?.body?.cancel();
        return res?.status === 200;
      };
      await until(async () => cluster.nats[1]!.running && await healthy(), 60_000, "both started again");
      assert.ok(cluster.nats[1]!.restarts >= 1, `nats-2 restarts ${cluster.nats[1]!.restarts}`);
      assert.ok(cluster.instances[1]!.restarts >= 1, `instance-2 restarts ${cluster.instances[1]!.restarts}`);
      assert.equal(await activityReplicas(cluster.nats[0]!.url), 3); // the restarted instance scaled it up
      console.log(`errors answered (then resent): ${JSON.stringify([...errors])}`);

      // The balancer reloads an edited config on SIGUSR2 (README: adding an instance by hand),
      // the same process, answering throughout. Before, it could only be restarted (~1 s refused).
      const config = `${dir}/haproxy.cfg`;
      await Deno.writeTextFile(
        config,
        (await Deno.readTextFile(config)).replace(
          "    default_backend instances",
          '    http-request return status 200 content-type text/plain string "reloaded" if { path /reloaded }\n' +
            "    default_backend instances",
        ),
      );
      // As the README says: the pid recorded in <dir>/pids/haproxy.pid (its first field).
      const pid = Number((await Deno.readTextFile(`${dir}/pids/haproxy.pid`)).split(" ")[0]);
      Deno.kill(pid, "SIGUSR2");
      await until(
        async () => {
          const res = await fetch(`${cluster.url}/reloaded`);
          return (await res.text()) === "reloaded";
        },
        10_000,
        "the edited config served",
      );
      assert.equal(cluster.balancer.restarts, 0);
      const health = await fetch(`${cluster.url}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    }, { natsNodes: 3 });
  },
});

Deno.test({
  name: "cluster: reports arriving together go out as one stream message, are stored once each and acked",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    await withCluster({}, async (cluster, pg) => {
      const url = cluster.instances[0]!.url;
      const token = await agentSession(url);
      const nc = await connect({ servers: cluster.nats[0]!.url });
      try {
        const jsm = await jetstreamManager(nc);
        const before = (await jsm.streams.info("POA")).state.messages;
        const ids = Array.from({ length: 60 }, (_, i) => `batched-${i}`);
        const statuses = await Promise.all(
          ids.map((id) =>
            post(url, "/data", token, { id, type: "ethereum_metrics", data: statisticsSynced })
          ),
        );
        assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses));
        const stored = (await jsm.streams.info("POA")).state.messages - before;
        assert.ok(
          stored < ids.length,
          `${ids.length} reports became ${stored} stream messages: none batched`,
        );
        await assertStoredOnce(pg, new Set(ids), 20_000);
        // Every delivery of the eth_stats consumer was acked once its reports were written.
        await until(
          async () => {
            const names = await jsm.consumers.list("POA").next();
            return names.filter((c) => c.name.startsWith("eth_stats")).every((c) => c.num_ack_pending === 0);
          },
          10_000,
          "no delivery left unacked",
        );
        console.log(`${ids.length} reports sent at once: ${stored} stream message(s)`);
      } finally {
        await nc.close();
      }
    });
  },
});

Deno.test({
  name:
    "cluster: a report larger than a NATS message is 413 and blocks nothing; large reports arriving together are split into messages that fit",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    // 256 KiB messages: a 300 KB report cannot fit one; twenty 20 KB reports cannot fit one together.
    await withCluster({}, async (cluster, pg) => {
      const url = cluster.instances[0]!.url;
      const token = await agentSession(url);
      const padded = (id: string, bytes: number) => ({
        id,
        type: "ethereum_metrics",
        data: { ...statisticsSynced, body: { ...statisticsSynced.body, note: "x".repeat(bytes) } },
      });
      const res = await fetch(`${url}/data`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(padded("huge", 300_000)),
      });
      assert.equal(res.status, 413);
      const body = await res.json();
      assert.equal(body.error, "payload_too_large");
      assert.match(body.message, /max_payload 262144 bytes/);
      // Nothing went to the outbox: the reports after it are stored as usual.
      const small = Array.from({ length: 10 }, (_, i) => `after-huge-${i}`);
      const large = Array.from({ length: 20 }, (_, i) => `large-${i}`);
      const statuses = await Promise.all([
        ...small.map((id) =>
          post(url, "/data", token, { id, type: "ethereum_metrics", data: statisticsSynced })
        ),
        ...large.map((id) => post(url, "/data", token, padded(id, 20_000))),
      ]);
      assert.ok(statuses.every((s) => s === 200), JSON.stringify(statuses));
      await assertStoredOnce(pg, new Set([...small, ...large]), 20_000);
      const metrics = await (await fetch(`${url}/metrics`, { headers: adminAuth })).text();
      assert.match(metrics, /# TYPE poa_cluster_outbox untyped\n/); // counts beside levels: not a gauge
      assert.match(metrics, /poa_cluster_outbox\{stat="pending"\} 0\n/);
      assert.match(metrics, /poa_cluster_outbox\{stat="accepted_total"\} 0\n/);
    }, { natsMaxPayload: 256 * 1024 });
  },
});

/** An ethstats node (a verbatim client's hello: the secret is `user:password`), logged in. */
async function ethstatsNode(base: string, id: string, user: string, password: string): Promise<WebSocket> {
  const ws = new WebSocket(base.replace("http", "ws") + "/api");
  const ready = new Promise<void>((resolve, reject) => {
    ws.onmessage = (e) => {
      if (String(e.data).includes('"ready"')) resolve();
      else reject(new Error(`${id}: ${e.data}`));
    };
    ws.onerror = () => reject(new Error(`${id}: websocket failed`));
  });
  await new Promise((resolve) => ws.onopen = resolve);
  const info = { name: id, node: "Geth/v1.14.12-stable/linux-amd64/go1.23.4", net: "1", protocol: "eth/68" };
  ws.send(JSON.stringify({ emit: ["hello", { id, info, secret: `${user}:${password}` }] }) + "\n");
  await ready;
  ws.onmessage = null;
  return ws;
}

Deno.test({
  name:
    "cluster: a graceful stop of an instance hands its ethstats nodes over: one that connects again elsewhere within the grace is never shown inactive (even after the timeout), one that does not is reported after it",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    // Before, the stopping instance said bye for each of its nodes: every dashboard showed them
    // inactive and the alerts receiver paged inactive, then back, per node at each rolling upgrade.
    await withCluster({ ethstats: { enabled: true }, inactivityTimeoutMs: 2000 }, async (cluster) => {
      const [a, b] = cluster.instances.map((i) => i.url) as [string, string];
      const user = "node" + crypto.randomUUID().slice(0, 8);
      const password = "password-" + crypto.randomUUID();
      const created = await fetch(`${a}/user`, {
        method: "POST",
        headers: { ...adminAuth, "content-type": "application/json" },
        body: JSON.stringify({ "user-name": user, password }),
      });
      assert.equal(created.status, 200);
      await created.body?.cancel();
      const viewer = await dashboard(b, cluster.wsSecret);
      const sockets: WebSocket[] = [];
      try {
        sockets.push(await ethstatsNode(a, "moving", user, password));
        sockets.push(await ethstatsNode(a, "leaving", user, password));
        await until(
          () => viewer.frames.filter((f) => f.data.type === "information").length >= 2,
          5000,
          "hellos",
        );
        const stopped = Date.now();
        await cluster.instances[0]!.kill("SIGTERM");
        // go-ethereum notices the closed socket at its next write (up to 15 s): later than the timeout.
        await new Promise((r) => setTimeout(r, 4000));
        sockets.push(await ethstatsNode(b, "moving", user, password));
        await until(
          () => viewer.frames.some((f) => f.agent_id === "leaving" && isInactive(f)),
          HANDOVER_GRACE_MS + 10_000,
          "the node that did not come back reported inactive",
        );
        const after = Date.now() - stopped;
        assert.ok(after >= HANDOVER_GRACE_MS - 1000, `reported ${after} ms after the stop, within the grace`);
        assert.deepEqual(viewer.frames.filter((f) => f.agent_id === "moving" && isInactive(f)), []);
        assert.equal(viewer.frames.filter((f) => f.agent_id === "leaving" && isInactive(f)).length, 1);
      } finally {
        for (const ws of sockets) ws.close();
        await viewer.close();
      }
    });
  },
});

Deno.test({
  name:
    "cluster: keep-alive agents through HAProxy lose no request to an instance's graceful stop (stopDelayMs) or to a balancer reload (idle-close-on-response)",
  ignore: !haveNats && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The operator trial: with the listener closed at once, 1-13 requests per SIGTERM were cut (the
    // balancer's pooled connections to the instance closed under them), and each HAProxy reload cut
    // about 100 (the old worker closed its idle client connections as requests came).
    await withCluster({ stopDelayMs: 3_000 }, async (cluster) => {
      const sim = runSimulation({
        url: cluster.url,
        admin: `${ADMIN.name}:${ADMIN.password}`,
        agents: 60,
        rate: 3,
        durationS: 16,
        rampS: 1,
        timeoutMs: 20_000,
      });
      await new Promise((r) => setTimeout(r, 4_000));
      await cluster.instances[0]!.kill("SIGTERM"); // the runner starts it again
      await new Promise((r) => setTimeout(r, 3_000));
      cluster.balancer.signal("SIGUSR2"); // a reload, as after an edit of haproxy.cfg
      await new Promise((r) => setTimeout(r, 2_000));
      cluster.balancer.signal("SIGUSR2");
      const summary = await sim;
      assert.ok(summary.ok > 1_000, `${summary.ok} answered`);
      assert.deepEqual(summary.errorsByCause, {}, JSON.stringify(summary.errorsByCause));
      assert.equal(summary.warmup.errors, 0);
    });
  },
});
