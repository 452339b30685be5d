/**
 * bench/ab.ts `--in-process`: both builds loaded in this one process and timed in interleaved
 * rounds, so that they share every slow and fast moment of the box. Changes of a few percent,
 * which separate processes under wrk cannot tell from this box's drift, show here as a steady
 * majority of rounds on one side. Two workloads:
 * - `request`: `POST /data` (or `/ping`) through each build's Hono app (`app.fetch`, no sockets),
 *   the dashboard receiver behind it;
 * - `turn`: statistics reports of 10,000 agents published on each build's bus, one per turn of
 *   the event loop (as paced ethstats frames and one agent per connection deliver them), into
 *   the dashboard and web receivers.
 */
import { nextTurn } from "../core/delivery_policy.ts";
import { STATISTICS } from "./agent_requests.ts";
import { median } from "./histogram.ts";

/** One build's entry points, from its own checkout. */
interface Build {
  name: string;
  parseConfig(input: unknown): unknown;
  buildService(config: unknown, options: { log: () => void }): Promise<BuiltLike>;
}

interface BuiltLike {
  app(): { fetch(req: Request, env?: unknown): Response | Promise<Response>; request: AppRequest };
  bus: { publish(message: unknown): unknown };
  markReady(): void;
  shutdown(): Promise<void>;
}
type AppRequest = (path: string, init: RequestInit) => Response | Promise<Response>;

async function loadBuild(name: string, dir: string): Promise<Build> {
  const config = await import(`${dir}/core/config.ts`);
  const service = await import(`${dir}/service.ts`);
  return { name, parseConfig: config.parseConfig, buildService: service.buildService };
}

const ADMIN = { name: "root", password: "root-password-123" };
const AGENTS = 10_000;

/** A service of `build` with `receivers`, no listener, in a temporary directory. */
async function serviceOf(build: Build, receivers: unknown[]): Promise<{ built: BuiltLike; dir: string }> {
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-ab-in-" });
  const config = build.parseConfig({
    listen: [{ hostname: "127.0.0.1", port: 0 }],
    admins: [ADMIN],
    jwt: { secret: "ab-in-process-jwt-secret-0123456789" },
    kv: { path: ":memory:" },
    dataDir: dir,
    loginLimit: { maxFailures: 0 },
    ethstats: { enabled: false },
    receivers,
  });
  const built = await build.buildService(config, { log: () => {} });
  built.markReady();
  return { built, dir };
}

/** Times `n` operations (µs each). */
type Workload = (n: number) => Promise<number>;

async function requestWorkload(built: BuiltLike, path: "/data" | "/ping"): Promise<Workload> {
  const app = built.app();
  const admin = "Basic " + btoa(`${ADMIN.name}:${ADMIN.password}`);
  await app.request("/user", {
    method: "POST",
    headers: { authorization: admin, "content-type": "application/json" },
    body: JSON.stringify({ "user-name": "ab-agent", password: "ab-agent-password" }),
  });
  const session = await app.request("/session", {
    method: "POST",
    headers: { authorization: "Basic " + btoa("ab-agent:ab-agent-password") },
  });
  const token = (await session.json()).token as string;
  const body = JSON.stringify(
    path === "/data"
      ? { id: "ab-agent-1", type: "ethereum_metrics", data: STATISTICS }
      : { id: "ab-agent-1" },
  );
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    "content-length": String(body.length),
  };
  const env = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 40000 } };
  return async (n) => {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const res = await app.fetch(new Request(`http://ab${path}`, { method: "POST", headers, body }), env);
      if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }
    return (performance.now() - started) * 1000 / n;
  };
}

function turnWorkload(built: BuiltLike): Workload {
  let seq = 0;
  return async (n) => {
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const k = seq++;
      built.bus.publish({
        id: crypto.randomUUID(),
        agentId: `ab-agent-${k % AGENTS}`,
        dataType: "ethereum_metrics",
        messageType: "data",
        data: { type: "statistics", body: { ...STATISTICS.body, peers: k % 50 } },
        receivedAt: Date.now(),
        bytes: 500,
      });
      await nextTurn();
    }
    for (let i = 0; i < 3; i++) await nextTurn(); // the receivers' last wake-ups
    return (performance.now() - started) * 1000 / n;
  };
}

/**
 * Runs both workloads on `base` and `current` in `rounds` interleaved rounds (who goes first
 * alternates) and prints, per workload, the medians and how many rounds this build won.
 */
export async function runInProcess(
  dirs: { base: string; current: string; baseName: string },
  options: { rounds: number; path: "/data" | "/ping"; operations: number },
): Promise<void> {
  const builds = [await loadBuild(dirs.baseName, dirs.base), await loadBuild("this", dirs.current)];
  const dashboard = {
    id: "dashboard",
    type: "dashboard",
    subscribe: ["ethereum_metrics"],
    wsSecret: "ab-ws-secret-0123456789",
  };
  const web = { id: "web", type: "web", subscribe: ["ethereum_metrics"], persistBlocks: false };
  const services: Array<{ built: BuiltLike; dir: string }> = [];
  try {
    const requests: Workload[] = [];
    const turns: Workload[] = [];
    for (const build of builds) {
      const forRequests = await serviceOf(build, [dashboard]);
      const forTurns = await serviceOf(build, [dashboard, web]);
      services.push(forRequests, forTurns);
      requests.push(await requestWorkload(forRequests.built, options.path));
      turns.push(turnWorkload(forTurns.built));
    }
    const workloads = [
      { name: `${options.path} request`, run: requests as [Workload, Workload] },
      { name: "report per turn", run: turns as [Workload, Workload] },
    ];
    for (const { name, run } of workloads) {
      for (const w of run) await w(Math.ceil(options.operations / 2)); // JIT warm-up
      const times: [number[], number[]] = [[], []];
      for (let round = 0; round < options.rounds; round++) {
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) times[i as 0 | 1].push(await run[i as 0 | 1](options.operations));
      }
      const ratios = times[1].map((t, i) => t / times[0][i]!);
      console.log(
        `${name}: ${dirs.baseName} ${median(times[0]).toFixed(2)} µs, this ${
          median(times[1]).toFixed(2)
        } µs ` +
          `(medians of ${options.rounds} rounds; fastest ${Math.min(...times[0]).toFixed(2)} and ` +
          `${Math.min(...times[1]).toFixed(2)}); this/${dirs.baseName} median ${
            median(ratios).toFixed(3)
          }, ` +
          `below 1 in ${ratios.filter((r) => r < 1).length} of ${ratios.length} rounds`,
      );
    }
  } finally {
    for (const { built, dir } of services) {
      await built.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
}
