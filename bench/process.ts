/**
 * Processes for benchmarks: the real service (`main.ts --config`) or a helper script as a
 * subprocess, its CPU and RSS from /proc, and its Prometheus metrics.
 */
import { SERVICE_ENV, SERVICE_V8_FLAGS } from "../core/runtime_flags.ts";
import { freePort } from "../core/ports.ts";

export { freePort };

const ROOT = new URL("../", import.meta.url).pathname;
/** Absolute path of the service entry point. */
export const MAIN = `${ROOT}main.ts`;

/** The value after `--name` on this script's command line; `fallback` when absent, else an error. */
export function flag(name: string, fallback?: string): string {
  const i = Deno.args.indexOf(`--${name}`);
  const v = i >= 0 ? Deno.args[i + 1] : undefined;
  if (v === undefined && fallback === undefined) throw new Error(`--${name} is required`);
  return v ?? fallback!;
}

/** A running child process with its output collected. */
export interface Child {
  pid: number;
  process: Deno.ChildProcess;
  /** Everything printed so far (stdout and stderr, interleaved as read). */
  output(): string;
  /** Sends a signal (ignored when it already exited). */
  signal(sig: Deno.Signal): void;
  /** Exit status. */
  status: Promise<Deno.CommandStatus>;
}

/**
 * The command line that runs Deno with `args`, under `prlimit --nofile=<n>` when `nofile` is
 * given: more open files than this machine's default 20,000 (raising the hard limit needs root,
 * as the bench runs; prlimit then execs Deno, so the pid is Deno's).
 */
export function denoCommand(args: string[], nofile?: number): { cmd: string; args: string[] } {
  if (nofile === undefined) return { cmd: Deno.execPath(), args };
  return { cmd: "prlimit", args: [`--nofile=${nofile}:${nofile}`, "--", Deno.execPath(), ...args] };
}

/** Spawns `deno run -A <script> ...args`, collecting its output; resolves once `ready` matches. */
export async function spawnDeno(
  script: string,
  args: string[],
  options: {
    ready?: RegExp;
    timeoutMs?: number;
    env?: Record<string, string>;
    v8Flags?: string[];
    /** Open files allowed (see denoCommand). */
    nofile?: number;
    /** Working directory, whose deno.json resolves the script's imports (default this one's). */
    cwd?: string;
  } = {},
): Promise<Child> {
  const flags = [...SERVICE_V8_FLAGS, ...(options.v8Flags ?? [])];
  const command = denoCommand(
    ["run", "-A", `--v8-flags=${flags.join(",")}`, script, ...args],
    options.nofile,
  );
  const process = new Deno.Command(command.cmd, {
    args: command.args,
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    cwd: options.cwd,
    // How `deno task start` runs the service (core/runtime_flags.ts), for the service and the
    // bare servers alike (and the load processes: it only bounds their memory).
    env: { ...SERVICE_ENV, ...options.env },
  }).spawn();
  let text = "";
  const seen = Promise.withResolvers<void>();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > 4_000_000) text = text.slice(-2_000_000);
      if (options.ready?.test(text)) seen.resolve();
    }
  };
  pump(process.stdout);
  pump(process.stderr);
  const child: Child = {
    pid: process.pid,
    process,
    output: () => text,
    signal(sig) {
      try {
        process.kill(sig);
      } catch {
        // already exited
      }
    },
    status: process.status,
  };
  if (options.ready) {
    const timeoutMs = options.timeoutMs ?? 60_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      seen.promise.then(() => "ready" as const),
      process.status.then(() => "exited" as const),
      new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), timeoutMs)),
    ]);
    clearTimeout(timer);
    if (outcome !== "ready") {
      child.signal("SIGKILL");
      await process.status;
      throw new Error(`${script} did not become ready (${outcome}):\n${text.slice(-3000)}`);
    }
  }
  return child;
}

/** The real service as a subprocess. */
export interface ServiceProcess extends Child {
  base: string;
  port: number;
  dataDir: string;
  config: Record<string, unknown>;
  /** Stops it (SIGTERM, then SIGKILL after `timeoutMs`) and returns the exit code. */
  stop(timeoutMs?: number): Promise<number>;
}

export const BENCH_ADMIN = { name: "bench-admin", password: "bench-admin-password" };
export const BENCH_WS_SECRET = "bench-ws-secret-0123456789";

/**
 * Starts `main.ts --config` on 127.0.0.1 with a config merged over bench defaults (an admin,
 * a JWT secret, KV and data under `dataDir`); waits until it listens.
 */
export async function startServiceProcess(
  dataDir: string,
  config: Record<string, unknown>,
  options: {
    port?: number;
    timeoutMs?: number;
    env?: Record<string, string>;
    nofile?: number;
    /** More V8 flags (e.g. `--perf-basic-prof` for a `perf record` of the service). */
    v8Flags?: string[];
    /** The entry point (default this checkout's `main.ts`; bench/ab.ts runs another checkout's). */
    main?: string;
  } = {},
): Promise<ServiceProcess> {
  const port = options.port ?? freePort();
  const full = {
    listen: [{ hostname: "127.0.0.1", port }],
    admins: [BENCH_ADMIN],
    jwt: { secret: "bench-jwt-secret-0123456789abcdef" },
    kv: { path: `${dataDir}/poa.kv` },
    dataDir,
    loginLimit: { maxFailures: 0 },
    ...config,
  };
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(`${dataDir}/config.json`, JSON.stringify(full, null, 2));
  const child = await spawnDeno(options.main ?? MAIN, ["--config", `${dataDir}/config.json`], {
    ready: /listening on https?:/,
    timeoutMs: options.timeoutMs ?? 120_000,
    env: { POA_WS_SECRET: BENCH_WS_SECRET, ...options.env },
    nofile: options.nofile,
    v8Flags: options.v8Flags,
    cwd: options.main?.slice(0, options.main.lastIndexOf("/")),
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitHealthy(base, options.timeoutMs ?? 120_000);
  } catch (err) {
    child.signal("SIGKILL");
    await child.status;
    throw new Error(`${(err as Error).message}:\n${child.output().slice(-3000)}`);
  }
  return {
    ...child,
    base,
    port,
    dataDir,
    config: full,
    async stop(timeoutMs = 30_000) {
      child.signal("SIGTERM");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const killed = new Promise<void>((r) =>
        timer = setTimeout(() => {
          child.signal("SIGKILL");
          r();
        }, timeoutMs)
      );
      await Promise.race([child.status, killed]);
      clearTimeout(timer);
      return (await child.status).code;
    },
  };
}

/**
 * Waits until `GET /healthz` answers 200: listening and every receiver initialised (the embedded
 * Postgres started, the tables migrated). Measuring before that would count a start-up's work and
 * spills as the load's.
 */
export async function waitHealthy(base: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(`${base}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`${base}/healthz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** CPU seconds (user + system) and RSS bytes of a process, from /proc. */
export function procStat(pid: number): { cpuS: number; rssBytes: number } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = /VmRSS:\s+(\d+) kB/.exec(status);
    return { cpuS: ticks / CLOCK_TICKS, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
  } catch {
    return null;
  }
}

/** Linux's USER_HZ: 100 on every mainstream build. */
const CLOCK_TICKS = 100;

/** Samples a process's CPU % and RSS every `everyMs` until stopped. */
export function sampleProcess(pid: number, everyMs = 1000): {
  stop(): {
    cpuPercentMean: number;
    cpuPercentMax: number;
    rssMaxBytes: number;
    rssLastBytes: number;
    samples: Array<{ t: number; cpu: number; rss: number }>;
  };
} {
  const samples: Array<{ t: number; cpu: number; rss: number }> = [];
  const t0 = performance.now();
  let last = procStat(pid);
  let lastT = t0;
  const first = last;
  const timer = setInterval(() => {
    const now = performance.now();
    const s = procStat(pid);
    if (s && last) {
      samples.push({
        t: (now - t0) / 1000,
        cpu: (s.cpuS - last.cpuS) / ((now - lastT) / 1000) * 100,
        rss: s.rssBytes,
      });
    }
    last = s;
    lastT = now;
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const end = procStat(pid);
      const elapsed = (performance.now() - t0) / 1000;
      const cpuMean = end && first ? (end.cpuS - first.cpuS) / elapsed * 100 : 0;
      return {
        cpuPercentMean: cpuMean,
        cpuPercentMax: samples.reduce((m, s) => Math.max(m, s.cpu), 0),
        rssMaxBytes: Math.max(end?.rssBytes ?? 0, ...samples.map((s) => s.rss)),
        rssLastBytes: end?.rssBytes ?? 0,
        samples,
      };
    },
  };
}

/** Parsed Prometheus samples: `name{labels}` → value. */
export type Metrics = Map<string, number>;

/** GET /metrics, parsed. */
export async function scrapeMetrics(base: string): Promise<Metrics> {
  const res = await fetch(`${base}/metrics`);
  const text = await res.text();
  const out: Metrics = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** Sum of the samples of `name` whose labels include every given label. */
export function metric(m: Metrics, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const [key, value] of m) {
    const brace = key.indexOf("{");
    const n = brace < 0 ? key : key.slice(0, brace);
    if (n !== name) continue;
    const l = brace < 0 ? "" : key.slice(brace);
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += value;
  }
  return sum;
}
