/**
 * Where the service spends its CPU on a protocol route under load: starts `main.ts` with the
 * V8 inspector, loads one route with wrk (50 connections), records a CPU profile through the
 * DevTools protocol and prints the functions by self time and by inclusive time.
 *
 * `deno run -A bench/profile.ts --path /data --encoding json --duration 8`
 * `deno run -A bench/profile.ts --agents 1000 --duration 15` (the agent simulator instead of wrk)
 * `deno run -A bench/profile.ts --agents 2500 --receivers default` (none | dashboard (default) | default)
 * `deno run -A bench/profile.ts --ethstats-nodes 100 --receivers default` (ethstats_load.ts flood instead;
 *  `--ethstats-mode paced --ethstats-nodes 10000` for geth's cadence)
 * `deno run -A bench/profile.ts --nats nats://127.0.0.1:4222 --receivers default` (cluster mode on that NATS)
 * `--connections 256` (wrk's connections; default 50)
 * `--alloc` (V8's sampling heap profiler instead of the CPU profiler: bytes allocated per function,
 *  garbage included, and per request or frame)
 * `--floor` (profile bench/floor_server.ts's Hono floor instead of the service, with wrk)
 * `--save out.cpuprofile` (also writes the raw profile: Chrome DevTools opens it; with `--alloc`
 *  a .heapprofile)
 *
 * Evidence for "what limits the service", not part of the test suite.
 */
import { createTokens, protocolRequests } from "./agent_requests.ts";
import { BENCH_ADMIN, flag, freePort, spawnDeno, waitHealthy } from "./process.ts";
import { runSimulation } from "./sim.ts";
import { runWrk } from "./wrk.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Connects to a process's inspector and runs `fn` with a `send(method, params)` function. */
async function withInspector<T>(
  inspectPort: number,
  fn: (
    send: (method: string, params?: Record<string, unknown>) => Promise<Record<string, unknown>>,
  ) => Promise<T>,
): Promise<T> {
  const list = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json();
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = reject;
  });
  let id = 0;
  const waiting = new Map<number, (v: Record<string, unknown>) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data);
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result ?? msg.error);
  };
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    return await fn(send);
  } finally {
    ws.close();
  }
}

/** This checkout's root, as the profiles' script URLs begin. */
const ROOT_URL = new URL("../", import.meta.url).href;

/** "function file:line", the file relative to this checkout or to its npm package. */
function frameLabel(frame: ProfileNode["callFrame"]): string {
  const url = frame.url.startsWith(ROOT_URL) ? frame.url.slice(ROOT_URL.length) : frame.url;
  const file = url.replace(/^(.*\/)?node_modules\/\.deno\//, "").replace(/^file:\/\//, "");
  return `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
}

/** Self and inclusive time per function (ms), heaviest first. */
export function summarizeProfile(profile: Profile): {
  totalMs: number;
  self: Array<{ name: string; ms: number }>;
  inclusive: Array<{ name: string; ms: number }>;
} {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: ProfileNode) => frameLabel(n.callFrame);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    let node = byId.get(profile.samples[i]!);
    if (!node) continue;
    self.set(label(node), (self.get(label(node)) ?? 0) + dt);
    const seen = new Set<string>();
    while (node) {
      const l = label(node);
      if (!seen.has(l)) {
        seen.add(l);
        incl.set(l, (incl.get(l) ?? 0) + dt);
      }
      const p = parent.get(node.id);
      node = p === undefined ? undefined : byId.get(p);
    }
  }
  const sorted = (m: Map<string, number>) =>
    [...m].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms);
  return { totalMs: total, self: sorted(self), inclusive: sorted(incl) };
}

interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated per function (self and inclusive), heaviest first, from a sampling heap profile. */
export function summarizeHeapProfile(head: HeapNode): {
  totalBytes: number;
  self: Array<{ name: string; bytes: number }>;
  inclusive: Array<{ name: string; bytes: number }>;
} {
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const label = (n: HeapNode) => frameLabel(n.callFrame);
  // Returns the bytes under `n`; a function counts once per path even when it recurses.
  const walk = (n: HeapNode, onPath: Set<string>): number => {
    const l = label(n);
    self.set(l, (self.get(l) ?? 0) + n.selfSize);
    const fresh = !onPath.has(l);
    if (fresh) onPath.add(l);
    let bytes = n.selfSize;
    for (const c of n.children) bytes += walk(c, onPath);
    if (fresh) {
      onPath.delete(l);
      incl.set(l, (incl.get(l) ?? 0) + bytes);
    }
    return bytes;
  };
  const totalBytes = walk(head, new Set());
  const sorted = (m: Map<string, number>) =>
    [...m].map(([name, bytes]) => ({ name, bytes })).sort((a, b) => b.bytes - a.bytes);
  return { totalBytes, self: sorted(self), inclusive: sorted(incl) };
}

if (import.meta.main) {
  const path = flag("path", "/data");
  const encoding = flag("encoding", "json");
  const duration = Number(flag("duration", "8"));
  const top = Number(flag("top", "40"));
  const connections = Number(flag("connections", "50"));
  const agents = Number(flag("agents", "0"));
  const receivers = flag("receivers", "dashboard");
  const ethstatsNodes = Number(flag("ethstats-nodes", "0"));
  /** `flood` (bursts, the per-frame cost) or `paced` (go-ethereum's cadence, what a network costs). */
  const ethstatsMode = flag("ethstats-mode", "flood");
  const nats = flag("nats", "");
  const alloc = Deno.args.includes("--alloc");
  const floor = Deno.args.includes("--floor");
  const save = flag("save", "");
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-profile-" });
  await Deno.chmod(dir, 0o755); // the embedded Postgres runs as OS user postgres when we are root
  const port = freePort();
  const inspectPort = freePort();
  const config: Record<string, unknown> = {
    listen: [{ hostname: "127.0.0.1", port }],
    admins: [BENCH_ADMIN],
    jwt: { secret: "bench-jwt-secret-0123456789abcdef" },
    kv: { path: `${dir}/poa.kv` },
    dataDir: dir,
    loginLimit: { maxFailures: 0 },
    ...(nats ? { cluster: { nats: { servers: nats }, authStore: "kv" } } : {}),
    // The profile's simulated agents share one user, its ethstats nodes the shared secret.
    agentIds: { maxPerUser: 100_000 },
    ...(ethstatsNodes > 0
      ? {
        ethstats: {
          enabled: true,
          sharedSecret: "profile-shared-secret",
          maxConnectionsPerAddress: 100_000,
          maxUnauthenticatedPerAddress: 100_000,
          maxMessagesPerSecond: 100_000,
        },
      }
      : {}),
  };
  // "default": the service's default receivers (with the embedded Postgres under `dir`).
  if (receivers === "none") config.receivers = [];
  else if (receivers === "dashboard") {
    config.receivers = [{
      id: "dashboard",
      type: "dashboard",
      subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      wsSecret: "profile-secret",
    }];
  } else if (receivers !== "default") throw new Error("--receivers: none, dashboard or default");
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  // `--floor`: the HTTP section's Hono floor (bench/floor_server.ts) under the same wrk requests.
  const child = await spawnDeno(
    `--inspect=127.0.0.1:${inspectPort}`,
    floor
      ? [new URL("./floor_server.ts", import.meta.url).pathname, "hono+middleware+parse", String(port)]
      : [new URL("../main.ts", import.meta.url).pathname, "--config", `${dir}/config.json`],
    { ready: /listening on https?:/ },
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    if (!floor) await waitHealthy(base, 120_000); // receivers ready: no start-up work profiled
    const requests = protocolRequests(
      `127.0.0.1:${port}`,
      floor ? ["floor-takes-any-token"] : await createTokens(base, 1, "prof"),
      path as "/data" | "/ping",
      encoding as "json" | "msgpack",
    );
    let handled = 0;
    const profile = await withInspector(inspectPort, async (send) => {
      if (alloc) {
        await send("HeapProfiler.enable");
        // Every allocation counts, also what a scavenge or a mark-compact collects (garbage).
        await send("HeapProfiler.startSampling", {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
      } else {
        await send("Profiler.enable");
        await send("Profiler.setSamplingInterval", { interval: 200 });
        await send("Profiler.start");
      }
      if (ethstatsNodes > 0) {
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL("./ethstats_load.ts", import.meta.url).pathname,
            "--url",
            base,
            "--mode",
            ethstatsMode,
            "--nodes",
            String(ethstatsNodes),
            "--secret",
            "profile-shared-secret",
            "--duration",
            String(duration),
          ],
          stdout: "piped",
          stderr: "null",
        }).output();
        const line = new TextDecoder().decode(out.stdout).split("\n").find((l) => l.startsWith("RESULT "));
        const r = line ? JSON.parse(line.slice(7)) : undefined;
        handled = r?.framesSent ?? 0;
        console.log(
          `ethstats ${ethstatsMode}, ${ethstatsNodes} nodes: ${
            r?.messagesPerSecond?.toFixed(0)
          } msg/s (profiling slows it)`,
        );
      } else if (agents > 0) {
        const sim = await runSimulation({
          agents,
          durationS: duration,
          url: base,
          user: "prof0:password-prof0", // made by createTokens above
          rampS: 3,
        });
        handled = sim.requestsPerSecond * duration;
        console.log(
          `${agents} agents: ${sim.requestsPerSecond.toFixed(0)} req/s, p99 ${sim.latency.p99.toFixed(1)} ms`,
        );
      } else {
        const r = await runWrk({ url: base, requests, connections, durationS: duration, workDir: dir });
        handled = r.requests;
        console.log(
          `${path} ${encoding}: ${
            r.requestsPerSecond.toFixed(0)
          } req/s (profiling slows it), p99 ${r.p99Ms} ms`,
        );
      }
      if (alloc) return (await send("HeapProfiler.stopSampling"))["profile"] as { head: HeapNode };
      return (await send("Profiler.stop"))["profile"] as Profile;
    });
    if (save) await Deno.writeTextFile(save, JSON.stringify(profile));
    if (alloc) {
      const h = summarizeHeapProfile((profile as { head: HeapNode }).head);
      const per = (bytes: number) => `${(bytes / Math.max(1, handled)).toFixed(0).padStart(6)} B`;
      console.log(`\nallocated per request or frame, sampled (${handled} handled): ${per(h.totalBytes)}`);
      console.log(`\nself:`);
      for (const f of h.self.slice(0, top)) console.log(`${per(f.bytes)}  ${f.name}`);
      console.log(`\ninclusive:`);
      for (const f of h.inclusive.slice(0, top)) console.log(`${per(f.bytes)}  ${f.name}`);
    } else {
      const s = summarizeProfile(profile as Profile);
      const pct = (ms: number) => `${(ms / s.totalMs * 100).toFixed(1).padStart(5)} %`;
      console.log(`\nself time (total ${s.totalMs.toFixed(0)} ms sampled):`);
      for (const f of s.self.slice(0, top)) console.log(`${pct(f.ms)}  ${f.name}`);
      console.log(`\ninclusive time:`);
      for (const f of s.inclusive.slice(0, top)) console.log(`${pct(f.ms)}  ${f.name}`);
    }
  } finally {
    child.signal("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
}
