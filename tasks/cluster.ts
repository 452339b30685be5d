/**
 * A whole cluster on one machine, for demos and tests (`deno task cluster`): nats-server with
 * JetStream (file storage), Postgres (DATABASE_URL, or an embedded server), N instances of the
 * service as child processes on their own ports, and the round-robin TCP balancer in front.
 *
 * ```sh
 * deno task cluster                      # balancer on 127.0.0.1:4000, instances on 4001-4003
 * deno task cluster --port 5000 --instances 2 --dir /tmp/poa-cluster
 * ```
 *
 * Everything lives under `--dir` (default `data/cluster`): `nats/` (JetStream store),
 * `postgres/` (embedded server), `instance-N/` (config.json and data dir of each instance),
 * `admin-password` and `ws-secret` (shared by every instance). Ctrl-C stops it all.
 */
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { type Balancer, startBalancer } from "./balancer.ts";
import { SERVICE_ENV, serviceDenoArgs } from "../core/runtime_flags.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface LocalClusterOptions {
  /** Working directory (created). */
  dir: string;
  /** Instances to run (default 3). */
  instances?: number;
  /** Listen hostname of the balancer and the instances (default 127.0.0.1). */
  hostname?: string;
  /** Balancer port; instances get the next ones. 0 (default) picks free ports. */
  port?: number;
  /** nats-server port (default: a free one). */
  natsPort?: number;
  /** An existing Postgres; without it an embedded server runs in `dir/postgres`. */
  databaseUrl?: string;
  /** Keys merged into every instance's config (receivers, inactivityTimeoutMs, cluster.nats…). */
  config?: Record<string, unknown>;
  /** The admin of every instance (default: `admin` with a password kept in `dir/admin-password`). */
  admin?: { name: string; password: string };
  /** Receives every line the processes print, prefixed with their name. */
  log?: (line: string) => void;
}

/** One instance process. */
export interface InstanceProcess {
  name: string;
  port: number;
  url: string;
  readonly running: boolean;
  /** Starts it (again) and waits until `/healthz` answers 200. */
  start(): Promise<void>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Its last output lines. */
  output(): string;
}

/** The nats-server process. */
export interface NatsProcess {
  url: string;
  readonly running: boolean;
  start(): Promise<void>;
  kill(signal?: Deno.Signal): Promise<void>;
  /** Sends a signal without waiting for anything (SIGSTOP, SIGCONT). */
  signal(signal: Deno.Signal): void;
  output(): string;
}

/** A running local cluster. */
export interface LocalCluster {
  /** `http://host:port` of the balancer. */
  url: string;
  balancer: Balancer;
  instances: InstanceProcess[];
  nats: NatsProcess;
  databaseUrl: string;
  admin: { name: string; password: string };
  wsSecret: string;
  /** Stops the instances (SIGTERM), the balancer, nats-server and the embedded Postgres. */
  close(): Promise<void>;
}

const OUTPUT_LINES = 200;

function freePort(hostname: string): number {
  const l = Deno.listen({ hostname, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function secretFile(path: string, envValue: string | undefined): Promise<string> {
  if (envValue) return envValue;
  try {
    const v = (await Deno.readTextFile(path)).trim();
    if (v) return v;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const value = btoa(String.fromCharCode(...bytes)).replaceAll("+", "x").replaceAll("/", "y");
  await Deno.writeTextFile(path, value + "\n", { mode: 0o600 });
  return value;
}

/** The nats-server binary: $NATS_SERVER, on PATH, or Debian's /usr/sbin/nats-server. */
export async function natsServerBinary(): Promise<string> {
  const candidates = [
    Deno.env.get("NATS_SERVER"),
    "nats-server",
    "/usr/sbin/nats-server",
    "/usr/bin/nats-server",
  ];
  for (const c of candidates) {
    if (!c) continue;
    try {
      const out = await new Deno.Command(c, { args: ["--version"], stdout: "null", stderr: "null" }).output();
      if (out.success) return c;
    } catch {
      // not there
    }
  }
  throw new Error("nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER");
}

interface Child {
  proc: Deno.ChildProcess;
  exited: Promise<Deno.CommandStatus>;
}

/** Spawns a process whose output goes line by line to `onLine` (and is kept for `output()`). */
function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  onLine: (line: string) => void,
): Child {
  const proc = new Deno.Command(cmd, { args, env, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
    if (rest) onLine(rest);
  };
  const pumps = Promise.all([pump(proc.stdout), pump(proc.stderr)]).catch(() => {});
  const exited = (async () => {
    const status = await proc.status;
    await pumps;
    return status;
  })();
  return { proc, exited };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, alive: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (!alive()) throw new Error(`${what} exited while starting`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ring(): { push(line: string): void; text(): string } {
  const lines: string[] = [];
  return {
    push(line) {
      lines.push(line);
      if (lines.length > OUTPUT_LINES) lines.shift();
    },
    text: () => lines.join("\n"),
  };
}

function processHandle(
  name: string,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  log: (line: string) => void,
  ready: () => Promise<boolean>,
): {
  start(): Promise<void>;
  kill(signal?: Deno.Signal): Promise<void>;
  signal(signal: Deno.Signal): void;
  readonly running: boolean;
  output(): string;
} {
  const out = ring();
  let child: Child | undefined;
  let running = false;
  return {
    get running() {
      return running;
    },
    async start() {
      if (running) return;
      const c = spawn(cmd, args, env, (line) => {
        out.push(line);
        log(`[${name}] ${line}`);
      });
      child = c;
      running = true;
      c.exited.then(() => {
        if (child === c) running = false;
      });
      try {
        await waitFor(name, ready, 60_000, () => running);
      } catch (err) {
        if (running) {
          c.proc.kill("SIGKILL");
          await c.exited;
        }
        throw new Error(`${(err as Error).message}\n${out.text()}`);
      }
    },
    async kill(signal: Deno.Signal = "SIGTERM") {
      const c = child;
      if (!c || !running) return;
      try {
        c.proc.kill(signal);
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          c.proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 20_000);
      await c.exited;
      clearTimeout(timer);
      running = false;
    },
    signal(signal) {
      if (running) child?.proc.kill(signal);
    },
    output: () => out.text(),
  };
}

/** Starts nats-server, Postgres, the instances and the balancer. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const log = options.log ?? ((line: string) => console.log(line));
  const hostname = options.hostname ?? "127.0.0.1";
  const count = options.instances ?? 3;
  await Deno.mkdir(options.dir, { recursive: true });
  const dir = await Deno.realPath(options.dir);
  const cleanups: Array<() => Promise<void>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error("cluster: stopping a part failed:", err);
      }
    }
  };
  try {
    const admin = options.admin ??
      {
        name: "admin",
        password: await secretFile(`${dir}/admin-password`, Deno.env.get("POA_ADMIN_PASSWORD")),
      };
    const wsSecret = await secretFile(`${dir}/ws-secret`, Deno.env.get("POA_WS_SECRET"));

    // NATS with JetStream on file storage.
    const natsPort = options.natsPort || freePort("127.0.0.1");
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    const natsHandle = processHandle(
      "nats",
      await natsServerBinary(),
      ["-js", "-sd", `${dir}/nats`, "-a", "127.0.0.1", "-p", String(natsPort), "-n", "poa-local"],
      {},
      log,
      async () => {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: natsPort });
        c.close();
        return true;
      },
    );
    const nats: NatsProcess = {
      url: natsUrl,
      get running() {
        return natsHandle.running;
      },
      start: () => natsHandle.start(),
      kill: (signal) => natsHandle.kill(signal),
      signal: (signal) => natsHandle.signal(signal),
      output: () => natsHandle.output(),
    };
    await nats.start();
    cleanups.push(() => {
      nats.signal("SIGCONT"); // a paused server would not hear the SIGTERM
      return nats.kill("SIGTERM");
    });

    // One Postgres for all.
    let databaseUrl = options.databaseUrl ?? Deno.env.get("DATABASE_URL");
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({ dataDir: `${dir}/postgres` });
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
      log(`[postgres] embedded server on 127.0.0.1:${pg.port}`);
    }

    const basePort = options.port ?? 0;
    const balancerPort = basePort || freePort(hostname);
    const instances: InstanceProcess[] = [];
    for (let i = 1; i <= count; i++) {
      const name = `instance-${i}`;
      const port = basePort ? basePort + i : freePort(hostname);
      const dataDir = `${dir}/${name}`;
      await Deno.mkdir(dataDir, { recursive: true });
      const extra = options.config ?? {};
      const extraCluster = (extra.cluster ?? {}) as Record<string, unknown>;
      const config = {
        ...extra,
        listen: [{ hostname, port }],
        dataDir,
        kv: { path: `${dataDir}/poa.kv` },
        postgres: { url: databaseUrl },
        cluster: {
          authStore: "postgres",
          ...extraCluster,
          nats: { servers: natsUrl, ...(extraCluster.nats as Record<string, unknown> ?? {}) },
        },
      };
      await Deno.writeTextFile(`${dataDir}/config.json`, JSON.stringify(config, null, 2));
      const url = `http://${hostname}:${port}`;
      const handle = processHandle(
        name,
        Deno.execPath(),
        ["run", "--allow-all", ...serviceDenoArgs(), MAIN, "--config", `${dataDir}/config.json`],
        {
          ...SERVICE_ENV,
          POA_ADMIN_NAME: admin.name,
          POA_ADMIN_PASSWORD: admin.password,
          POA_WS_SECRET: wsSecret,
          NO_COLOR: "1",
        },
        log,
        async () => {
          const res = await fetch(`${url}/healthz`);
          await res.body?.cancel();
          return res.status === 200;
        },
      );
      instances.push({
        name,
        port,
        url,
        get running() {
          return handle.running;
        },
        start: () => handle.start(),
        kill: (signal) => handle.kill(signal),
        output: () => handle.output(),
      });
    }
    cleanups.push(async () => {
      await Promise.all(instances.map((i) => i.kill("SIGTERM")));
    });
    // The first one creates the stream, the JWT secret and the schema; the others race for nothing.
    await instances[0]!.start();
    await Promise.all(instances.slice(1).map((i) => i.start()));

    const balancer = startBalancer({
      hostname,
      port: balancerPort,
      upstreams: instances.map((i) => ({ hostname, port: i.port })),
    });
    cleanups.push(() => balancer.close());

    let closing: Promise<void> | undefined;
    return {
      url: `http://${hostname}:${balancer.port}`,
      balancer,
      instances,
      nats,
      databaseUrl,
      admin,
      wsSecret,
      close: () => closing ??= cleanup(),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

function flag(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

async function main(): Promise<number> {
  const args = Deno.args;
  const port = Number(flag(args, "port") ?? 4000);
  const instances = Number(flag(args, "instances") ?? 3);
  const dir = flag(args, "dir") ?? "data/cluster";
  const hostname = flag(args, "hostname") ?? "127.0.0.1";
  if (!Number.isInteger(port) || !Number.isInteger(instances) || instances < 1) {
    console.error(
      "usage: deno task cluster [--port 4000] [--instances 3] [--dir data/cluster] [--hostname 127.0.0.1]",
    );
    return 2;
  }
  const cluster = await startLocalCluster({ dir, port, instances, hostname });
  console.log(`
cluster up:
  balancer    ${cluster.url}   (round-robin over the instances)
${cluster.instances.map((i) => `  ${i.name}  ${i.url}`).join("\n")}
  nats        ${cluster.nats.url}   (JetStream store in ${dir}/nats)
  postgres    ${cluster.databaseUrl.replace(/:[^:@/]*@/, ":***@")}
  admin       ${cluster.admin.name} / ${cluster.admin.password}   (${dir}/admin-password)
  ws secret   ${cluster.wsSecret}   (${dir}/ws-secret)
Ctrl-C stops everything.`);
  const stop = Promise.withResolvers<void>();
  Deno.addSignalListener("SIGINT", () => stop.resolve());
  Deno.addSignalListener("SIGTERM", () => stop.resolve());
  await stop.promise;
  console.log("stopping the cluster…");
  await cluster.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
