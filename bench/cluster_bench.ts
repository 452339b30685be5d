/**
 * Cluster throughput on this machine: accepted `POST /data` per second (wrk) through HAProxy
 * with 1, 2 and 3 instances on a 3-node NATS cluster, and the per-instance cost of the JetStream
 * publish-ack against single-node mode (one instance hit directly, cluster vs local queue), with
 * the CPU each kind of process spent per accepted report (instances, NATS nodes, HAProxy,
 * Postgres; wrk's own is left out).
 *
 * The `cluster` section of `deno task bench` (`deno task bench --only cluster`): BENCHMARKS.md.
 *
 * Every instance, nats-server, Postgres, the balancer and wrk share this box's cores, so the
 * figures show the box's limit as much as the design's.
 */
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { type LocalCluster, startLocalCluster } from "../tasks/cluster.ts";
import { childrenOf } from "../tasks/process.ts";
import { SERVICE_ENV, serviceDenoArgs } from "../core/runtime_flags.ts";
import { createTokens, protocolRequests } from "./agent_requests.ts";
import { freePort, procStat, waitHealthy } from "./process.ts";
import { runWrk, type WrkResult } from "./wrk.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ADMIN = { name: "bench", password: "bench-password-123" };
const RECEIVERS = [
  {
    id: "dashboard",
    type: "dashboard",
    subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
  },
  { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
  { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
];
/** A session token of a new agent user of the service at `base`. */
async function session(base: string): Promise<string> {
  return (await createTokens(base, 1, "b" + crypto.randomUUID().slice(0, 8), ADMIN))[0]!;
}

/** Processes by kind, whose CPU a run is charged with. */
type Groups = Record<string, number[]>;

function cpuSeconds(groups: Groups): Record<string, number> {
  return Object.fromEntries(
    Object.entries(groups).map((
      [kind, pids],
    ) => [kind, pids.reduce((t, pid) => t + (procStat(pid)?.cpuS ?? 0), 0)]),
  );
}

interface Measured {
  wrk: WrkResult;
  /** CPU µs per accepted report, by kind of process, over the measured run. */
  cpuUsPerReport: Record<string, number>;
}

async function measure(
  o: ClusterBenchOptions,
  connections: number,
  url: string,
  token: string,
  groups: () => Groups,
): Promise<Measured> {
  const { durationS, work: workDir } = o;
  const hostPort = new URL(url).host;
  // Warm-up (JIT, pools, consumers), then the measured run.
  const requests = protocolRequests(hostPort, [token], "/data", "json");
  await runWrk({ url, requests, connections, durationS: 2, workDir });
  const charged = groups(); // after the warm-up: Postgres backends of the pools exist now
  const before = cpuSeconds(charged);
  const wrk = await runWrk({ url, requests, connections, durationS, workDir });
  const after = cpuSeconds(charged);
  const accepted = Math.max(1, wrk.requestsPerSecond * durationS);
  const cpuUsPerReport = Object.fromEntries(
    Object.keys(charged).map((k) => [k, (after[k]! - before[k]!) / accepted * 1e6]),
  );
  return { wrk, cpuUsPerReport };
}

/** One single-node instance (no cluster key) on the shared Postgres. */
async function singleNode(
  dir: string,
  databaseUrl: string,
): Promise<{ url: string; pid: number; close(): Promise<void> }> {
  const port = freePort();
  const config = {
    listen: [{ hostname: "127.0.0.1", port }],
    dataDir: dir,
    kv: { path: `${dir}/poa.kv` },
    postgres: { url: databaseUrl },
    admins: [ADMIN],
    receivers: RECEIVERS,
    ethstats: { enabled: false },
  };
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...serviceDenoArgs(), MAIN, "--config", `${dir}/config.json`],
    env: { ...SERVICE_ENV, POA_WS_SECRET: "bench-ws-secret" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  const url = `http://127.0.0.1:${port}`;
  await waitHealthy(url, 30_000);
  return {
    url,
    pid: child.pid,
    async close() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

export interface ClusterBenchOptions {
  /** Seconds of each measured wrk run (after a 2 s warm-up). */
  durationS: number;
  /** wrk connections of every setup. */
  connections: number;
  /**
   * wrk connections of a second run of the single node and of one instance through HAProxy:
   * the many agents reporting at once that cluster mode is for (more reports per stream message).
   */
  heavyConnections: number;
  /** Working directory (the caller removes it). */
  work: string;
  log(line: string): void;
}

/** One measured setup. */
export interface ClusterRow {
  setup: string;
  connections: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU µs per accepted report by kind: service (the instances), nats, haproxy, postgres. */
  cpuUsPerReport: Record<string, number>;
}

/** The single node, then clusters of 1-3 instances on a 3-node NATS cluster, side by side. */
export async function benchCluster(o: ClusterBenchOptions): Promise<{ rows: ClusterRow[] }> {
  const root = `${o.work}/cluster`;
  await Deno.mkdir(root, { recursive: true });
  await Deno.chmod(root, 0o755); // the embedded server may run as another OS user
  const pg = await startEmbeddedPostgres({ dataDir: `${root}/postgres` });
  const rows: ClusterRow[] = [];
  const postmaster = Number(
    (await Deno.readTextFile(`${root}/postgres/pgdata/postmaster.pid`)).split("\n")[0],
  );
  const postgresPids = () => [postmaster, ...childrenOf(postmaster)];
  const add = (setup: string, connections: number, m: Measured) => {
    const r = m.wrk;
    rows.push({
      setup,
      connections,
      requestsPerSecond: r.requestsPerSecond,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      errors: r.non2xx + r.socketErrors,
      cpuUsPerReport: m.cpuUsPerReport,
    });
    const total = Object.values(m.cpuUsPerReport).reduce((a, b) => a + b, 0);
    o.log(
      `  ${setup}, ${connections} connections: ${Math.round(r.requestsPerSecond)} req/s, ${
        total.toFixed(0)
      } µs CPU per report`,
    );
  };
  try {
    const single = await singleNode(`${root}/single`, pg.url);
    try {
      const token = await session(single.url);
      for (const connections of [o.connections, o.heavyConnections]) {
        add(
          "single node, direct (local queue)",
          connections,
          await measure(o, connections, single.url, token, () => ({
            service: [single.pid],
            postgres: postgresPids(),
          })),
        );
      }
    } finally {
      await single.close();
    }
    for (const n of [1, 2, 3]) {
      let cluster: LocalCluster | undefined;
      try {
        cluster = await startLocalCluster({
          dir: `${root}/cluster-${n}`,
          instances: n,
          databaseUrl: pg.url,
          admin: ADMIN,
          log: () => {},
          config: { receivers: RECEIVERS, ethstats: { enabled: false } },
        });
        const c = cluster;
        const groups = (direct: boolean) => () => ({
          service: c.instances.flatMap((i) => i.pid ?? []),
          nats: c.nats.flatMap((x) => x.pid ?? []),
          // HAProxy runs master-worker (tasks/cluster.ts): the worker, a child, does the work.
          ...(direct ? {} : {
            haproxy: c.balancer.pid === undefined ? [] : [c.balancer.pid, ...childrenOf(c.balancer.pid)],
          }),
          postgres: postgresPids(),
        });
        const token = await session(cluster.url);
        if (n === 1) {
          add(
            "cluster, 1 instance, direct (JetStream publish-ack)",
            o.connections,
            await measure(o, o.connections, cluster.instances[0]!.url, token, groups(true)),
          );
        }
        for (const connections of n === 1 ? [o.connections, o.heavyConnections] : [o.connections]) {
          add(
            `cluster, ${n} instance(s), through HAProxy`,
            connections,
            await measure(o, connections, cluster.url, token, groups(false)),
          );
        }
      } finally {
        await cluster?.close();
      }
    }
  } finally {
    await pg.stop();
  }
  return { rows };
}
