/**
 * Cluster throughput on this machine: accepted `POST /data` per second (wrk) through the
 * balancer with 1, 2 and 3 instances, and the per-instance cost of the JetStream publish-ack
 * against single-node mode (one instance hit directly, cluster vs local queue).
 *
 * ```sh
 * deno run -A bench/cluster_bench.ts [--duration 8] [--connections 32] [--out bench/CLUSTER_BENCHMARKS.md]
 * ```
 *
 * Every instance, nats-server, Postgres, the balancer and wrk share this box's cores, so the
 * figures show the box's limit as much as the design's.
 */
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { type LocalCluster, startLocalCluster } from "../tasks/cluster.ts";
import { SERVICE_ENV, serviceDenoArgs } from "../core/runtime_flags.ts";
import { flag, freePort } from "./process.ts";
import { haveWrk, runWrk, type WrkResult } from "./wrk.ts";

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
const STATISTICS = {
  type: "statistics",
  body: {
    active: true,
    mining: false,
    hashrate: 0,
    peers: 12,
    gasPrice: 1000000000,
    syncing: false,
    uptime: 100,
  },
};

async function session(base: string): Promise<string> {
  const user = "b" + crypto.randomUUID().slice(0, 8);
  const auth = "Basic " + btoa(`${ADMIN.name}:${ADMIN.password}`);
  const created = await fetch(`${base}/user`, {
    method: "POST",
    headers: { authorization: auth, "content-type": "application/json" },
    body: JSON.stringify({ "user-name": user, password: "bench-agent-password" }),
  });
  if (created.status !== 200) throw new Error(`create user: ${created.status}`);
  await created.body?.cancel();
  const res = await fetch(`${base}/session`, {
    method: "POST",
    headers: { authorization: "Basic " + btoa(`${user}:bench-agent-password`) },
  });
  return (await res.json()).token;
}

/** Raw `POST /data` requests (statistics of 100 agents) for wrk. */
function requests(hostPort: string, token: string): Uint8Array[] {
  const enc = new TextEncoder();
  return Array.from({ length: 100 }, (_, i) => {
    const body = JSON.stringify({ id: `bench-${i}`, type: "ethereum_metrics", data: STATISTICS });
    return enc.encode(
      `POST /data HTTP/1.1\r\nHost: ${hostPort}\r\ncontent-type: application/json\r\n` +
        `authorization: Bearer ${token}\r\ncontent-length: ${enc.encode(body).byteLength}\r\n\r\n${body}`,
    );
  });
}

async function measure(url: string, token: string, workDir: string): Promise<WrkResult> {
  const durationS = Number(flag("duration", "8"));
  const connections = Number(flag("connections", "32"));
  const hostPort = new URL(url).host;
  // Warm-up (JIT, pools, consumers), then the measured run.
  await runWrk({ url, requests: requests(hostPort, token), connections, durationS: 2, workDir });
  return await runWrk({ url, requests: requests(hostPort, token), connections, durationS, workDir });
}

/** One single-node instance (no cluster key) on the shared Postgres. */
async function singleNode(
  dir: string,
  databaseUrl: string,
): Promise<{ url: string; close(): Promise<void> }> {
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
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      await res.body?.cancel();
      if (res.ok) break;
    } catch { /* starting */ }
    if (Date.now() > deadline) throw new Error("single node did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    async close() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

async function main(): Promise<number> {
  if (!(await haveWrk())) {
    console.error("wrk is not installed (apt-get install wrk)");
    return 1;
  }
  const root = await Deno.makeTempDir({ prefix: "poa-cluster-bench-" });
  await Deno.chmod(root, 0o755); // the embedded server may run as another OS user
  const pg = await startEmbeddedPostgres({ dataDir: `${root}/postgres` });
  const rows: string[] = [];
  const line = (what: string, r: WrkResult) => {
    const row = `| ${what} | ${Math.round(r.requestsPerSecond)} | ${r.p50Ms.toFixed(2)} | ${
      r.p99Ms.toFixed(2)
    } | ${r.non2xx + r.socketErrors} |`;
    rows.push(row);
    console.log(row);
  };
  try {
    console.log("| setup | accepted /data req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|");
    const single = await singleNode(`${root}/single`, pg.url);
    try {
      line("single node, direct (local queue)", await measure(single.url, await session(single.url), root));
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
        const token = await session(cluster.url);
        if (n === 1) {
          line(
            "cluster, 1 instance, direct (JetStream publish-ack)",
            await measure(cluster.instances[0]!.url, token, root),
          );
        }
        line(`cluster, ${n} instance(s), through the balancer`, await measure(cluster.url, token, root));
      } finally {
        await cluster?.close();
      }
    }
  } finally {
    await pg.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  const out = flag("out", "bench/CLUSTER_BENCHMARKS.md");
  const cpu =
    (await Deno.readTextFile("/proc/cpuinfo").catch(() => "")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  await Deno.writeTextFile(
    out,
    `## Cluster mode (bench/cluster_bench.ts)\n\n` +
      `${navigator.hardwareConcurrency} cores (${cpu}); wrk ${flag("connections", "32")} connections, ` +
      `${
        flag("duration", "8")
      } s after a 2 s warm-up; statistics reports of 100 agents; receivers dashboard, ` +
      `eth_stats, system_stats; nats-server, Postgres, the instances, the balancer and wrk all on this box.\n\n` +
      `| setup | accepted /data req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|\n${
        rows.join("\n")
      }\n`,
  );
  console.log(`written to ${out}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main());
