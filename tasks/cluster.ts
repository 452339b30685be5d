/**
 * A whole cluster on one machine, the deployment shape of the README's "Production deployment"
 * run locally (`deno task cluster`): a 3-node NATS cluster (three nats-server processes with
 * routes, JetStream on file storage, stream replicas 3), Postgres (DATABASE_URL, or an embedded
 * server), N instances of the service, and Debian's HAProxy in front (tasks/haproxy.ts: health
 * checks on /healthz, websockets passed through, header and idle timeouts).
 *
 * ```sh
 * deno task cluster                      # balancer on 127.0.0.1:4000, instances on 4001-4003
 * deno task cluster --port 5000 --instances 2 --nats-nodes 1 --dir /tmp/poa-cluster
 * ```
 *
 * Everything lives under `--dir` (default `data/cluster`): `nats-N/` (JetStream stores),
 * `postgres/` (embedded server), `instance-N/` (config.json and data dir of each instance),
 * `haproxy.cfg`, and the secrets every instance shares: `admin-password`, `ws-secret` and
 * `secrets.env` (0600, what each instance's `envFile` points at: its config.json holds no
 * secret and starts the instance on its own, `deno task start --config <dir>/instance-1/config.json`).
 *
 * The runner supervises what it started: an instance or NATS node that exits on its own is
 * logged and started again (backoff 1 s doubling to 30 s). Every child runs in its own session,
 * so a Ctrl-C reaches only the runner, which stops the parts in order (balancer, instances with
 * their graceful drain, NATS, Postgres); so does SIGTERM, and the runner's parent going away
 * (`npx` or `deno task` killed).
 */
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { parseClusterArgs } from "./cluster_args.ts";
import { randomString } from "../auth/password.ts";
import { secretFile } from "../core/files.ts";
import { SERVICE_ENV, serviceDenoArgs } from "../core/runtime_flags.ts";
import { haproxyConfig } from "./haproxy.ts";
import {
  freePort,
  haproxyBinary,
  launchers,
  type ManagedProcess,
  managedProcess,
  natsServerBinary,
  procStat,
  stopOrphans,
} from "./process.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

export interface LocalClusterOptions {
  /** Working directory (created). */
  dir: string;
  /** Instances to run (default 3). */
  instances?: number;
  /** nats-server processes forming the NATS cluster (default 3; the stream gets as many replicas). */
  natsNodes?: number;
  /** Listen hostname of the balancer and the instances (default 127.0.0.1). */
  hostname?: string;
  /** Balancer port; instances get the next ones. 0 (default) picks free ports. */
  port?: number;
  /** An existing Postgres; without it an embedded server runs in `dir/postgres`. */
  databaseUrl?: string;
  /** Keys merged into every instance's config (receivers, inactivityTimeoutMs, cluster.nats…). */
  config?: Record<string, unknown>;
  /** The admin of every instance (default: `admin` with a password kept in `dir/admin-password`). */
  admin?: { name: string; password: string };
  /** Start again what exits on its own (default true). */
  supervise?: boolean;
  /** Receives every line the processes print, prefixed with their name. */
  log?: (line: string) => void;
  /**
   * The NATS servers' `max_payload`, the largest stream message (default 8 MiB, NATS's advised
   * ceiling; its own default is 1 MiB): a report that does not fit is refused with 413.
   */
  natsMaxPayload?: number;
}

/** The NATS servers' largest message: NATS's advised ceiling, room for an 8 MB report. */
export const NATS_MAX_PAYLOAD = 8 * 1024 * 1024;

/** One instance process. */
export interface InstanceProcess extends ManagedProcess {
  port: number;
  url: string;
}

/** One nats-server process. */
export interface NatsProcess extends ManagedProcess {
  url: string;
}

/** A running local cluster. */
export interface LocalCluster {
  /** `http://host:port` of the balancer. */
  url: string;
  balancer: ManagedProcess;
  instances: InstanceProcess[];
  nats: NatsProcess[];
  databaseUrl: string;
  admin: { name: string; password: string };
  wsSecret: string;
  /** Stops the balancer, the instances (SIGTERM: graceful), the NATS nodes and the embedded Postgres. */
  close(): Promise<void>;
}

/** A secret from the environment, else kept in `path` (0600) across runs. */
async function clusterSecret(path: string, envValue: string | undefined): Promise<string> {
  if (envValue) return envValue;
  return (await secretFile(path, () => randomString(24))).value;
}

/** Starts the NATS nodes, Postgres, the instances and the balancer. */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const log = options.log ?? ((line: string) => console.log(line));
  const hostname = options.hostname ?? "127.0.0.1";
  const count = options.instances ?? 3;
  const natsCount = options.natsNodes ?? 3;
  const supervise = options.supervise ?? true;
  await Deno.mkdir(options.dir, { recursive: true });
  const dir = await Deno.realPath(options.dir);
  /** Where the children's pids are recorded while they run (stopOrphans). */
  const pidDir = `${dir}/pids`;
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
    // One runner per directory: a second one would start NATS nodes on the same stores.
    const lock = await Deno.open(`${dir}/runner.lock`, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    if (!(await lock.tryLock(true))) {
      lock.close();
      const holder = (await Deno.readTextFile(`${dir}/runner.lock`).catch(() => "")).trim();
      throw new Error(`${dir} is in use by a running cluster runner${holder ? ` (pid ${holder})` : ""}`);
    }
    await lock.truncate(0);
    await lock.write(new TextEncoder().encode(`${Deno.pid}\n`));
    cleanups.push(() => Promise.resolve(lock.close()));
    // What a runner killed with SIGKILL left running here goes first (its NATS nodes hold the stores).
    await stopOrphans(pidDir, log);
    // Binaries first: a missing one is a clear error before anything is written or started.
    const natsBinary = await natsServerBinary();
    const haproxy = await haproxyBinary();
    const admin = options.admin ??
      {
        name: "admin",
        password: await clusterSecret(`${dir}/admin-password`, Deno.env.get("POA_ADMIN_PASSWORD")),
      };
    const wsSecret = await clusterSecret(`${dir}/ws-secret`, Deno.env.get("POA_WS_SECRET"));

    // The NATS cluster: each node routes to the others; JetStream on file storage.
    const natsPorts = Array.from({ length: natsCount }, () => ({
      client: freePort("127.0.0.1"),
      route: freePort("127.0.0.1"),
      monitor: freePort("127.0.0.1"),
    }));
    // Room for a report as large as bodyLimitBytes (NATS's 1 MiB default is below a POA agent's
    // 41-block history): the flags below override the rest.
    await Deno.writeTextFile(
      `${dir}/nats.conf`,
      `max_payload: ${options.natsMaxPayload ?? NATS_MAX_PAYLOAD}\n`,
    );
    const nats: NatsProcess[] = natsPorts.map((ports, i) => {
      const name = `nats-${i + 1}`;
      const routes = natsPorts.filter((p) => p !== ports).map((p) => `nats://127.0.0.1:${p.route}`);
      const args = ["-c", `${dir}/nats.conf`, "-js", "-sd", `${dir}/${name}`, "-a", "127.0.0.1"];
      args.push("-p", String(ports.client));
      args.push("-m", String(ports.monitor), "-n", name);
      if (natsCount > 1) {
        args.push("--cluster_name", "poa-local", "--cluster", `nats://127.0.0.1:${ports.route}`);
        args.push("--routes", routes.join(","));
      }
      // Ready once JetStream is (in a cluster: a meta leader is elected).
      // One Go thread each: the nodes share this box's cores with the instances, and Go's idle
      // threads polling for work cost ~30 % more NATS CPU per report here (bench cluster section).
      const env = { GOMAXPROCS: "1" };
      const process = managedProcess(name, { cmd: natsBinary, args, env }, async () => {
        const res = await fetch(`http://127.0.0.1:${ports.monitor}/healthz`);
        await res.body?.cancel();
        return res.status === 200;
      }, { log, supervise, pidDir });
      return Object.assign(process, { url: `nats://127.0.0.1:${ports.client}` });
    });
    cleanups.push(async () => {
      await Promise.all(nats.map((n) => n.kill("SIGTERM")));
    });
    await Promise.all(nats.map((n) => n.start())); // together: a lone node elects no leader

    // One Postgres for all.
    let databaseUrl = options.databaseUrl ?? Deno.env.get("DATABASE_URL");
    if (!databaseUrl) {
      const pg = await startEmbeddedPostgres({ dataDir: `${dir}/postgres` });
      cleanups.push(() => pg.stop());
      databaseUrl = pg.url;
      log(
        `[postgres] embedded server on 127.0.0.1:${pg.port} (user postgres, password in ${dir}/postgres/password)`,
      );
    }

    // Secrets every instance reads through its envFile; nothing secret in the configs.
    const secrets = [
      `POA_ADMIN_NAME=${admin.name}`,
      `POA_ADMIN_PASSWORD=${admin.password}`,
      `POA_WS_SECRET=${wsSecret}`,
      `DATABASE_URL=${databaseUrl}`,
    ];
    await Deno.writeTextFile(`${dir}/secrets.env`, secrets.join("\n") + "\n", { mode: 0o600 });
    await Deno.chmod(`${dir}/secrets.env`, 0o600); // an older file keeps its mode otherwise

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
        trustedProxies: [hostname === "0.0.0.0" ? "127.0.0.1" : hostname],
        // HAProxy checks every second and takes an instance out after two failures (tasks/haproxy.ts).
        stopDelayMs: 3_000,
        ...extra,
        listen: [{ hostname, port }],
        dataDir,
        envFile: "../secrets.env",
        cluster: {
          authStore: "postgres",
          ...extraCluster,
          nats: {
            servers: nats.map((n) => n.url),
            replicas: natsCount,
            ...(extraCluster.nats as Record<string, unknown> ?? {}),
          },
        },
      };
      await Deno.writeTextFile(`${dataDir}/config.json`, JSON.stringify(config, null, 2));
      const url = `http://${hostname}:${port}`;
      const process = managedProcess(name, {
        cmd: Deno.execPath(),
        args: ["run", "--allow-all", ...serviceDenoArgs(), MAIN, "--config", `${dataDir}/config.json`],
        env: { ...SERVICE_ENV, NO_COLOR: "1" },
      }, async () => {
        const res = await fetch(`${url}/healthz`);
        await res.body?.cancel();
        return res.status === 200;
      }, { log, supervise, pidDir });
      instances.push(Object.assign(process, { port, url }));
    }
    cleanups.push(async () => {
      await Promise.all(instances.map((i) => i.kill("SIGTERM")));
    });
    // The first one creates the stream, the JWT secret and the schema; the others race for nothing.
    await instances[0]!.start();
    await Promise.all(instances.slice(1).map((i) => i.start()));

    const haproxyFile = `${dir}/haproxy.cfg`;
    await Deno.writeTextFile(
      haproxyFile,
      haproxyConfig({
        bind: { hostname, port: balancerPort },
        servers: instances.map((i) => ({ name: i.name, hostname, port: i.port })),
        threads: 1, // it shares this box's cores with everything else
      }),
    );
    const url = `http://${hostname}:${balancerPort}`;
    const balancer = managedProcess(
      "haproxy",
      // Master-worker (-W): `kill -USR2 <pid>` reloads an edited haproxy.cfg (an instance added by
      // hand, one taken out for an upgrade) without refusing a connection; -db: in the foreground.
      { cmd: haproxy, args: ["-W", "-f", haproxyFile, "-db"], env: {} },
      async () => {
        const res = await fetch(`${url}/healthz`);
        await res.body?.cancel();
        return res.status === 200;
      },
      { log, supervise, pidDir },
    );
    cleanups.push(() => balancer.kill("SIGTERM"));
    await balancer.start();

    let closing: Promise<void> | undefined;
    return {
      url,
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

async function main(): Promise<number> {
  const parsed = parseClusterArgs(Deno.args);
  if (!parsed.ok) {
    (parsed.help ? console.log : console.error)(parsed.message);
    return parsed.help ? 0 : 2;
  }
  const { port, instances, natsNodes, dir, hostname } = parsed;
  const stop = Promise.withResolvers<string>();
  Deno.addSignalListener("SIGINT", () => stop.resolve("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop.resolve("SIGTERM"));
  const watched = launchers();
  const orphaned = setInterval(() => {
    const gone = watched.find((l) => procStat(l.pid)?.started !== l.started);
    if (gone) stop.resolve(`the process that launched the runner (pid ${gone.pid}) is gone`);
  }, 1000);
  let cluster: LocalCluster;
  try {
    cluster = await startLocalCluster({ dir, port, instances, natsNodes, hostname });
  } catch (err) {
    clearInterval(orphaned);
    console.error(`cluster: ${(err as Error).message}`);
    return 2;
  }
  console.log(`
cluster up:
  balancer    ${cluster.url}   (HAProxy, config ${dir}/haproxy.cfg)
${cluster.instances.map((i) => `  ${i.name}  ${i.url}   (config ${dir}/${i.name}/config.json)`).join("\n")}
${
    cluster.nats.map((n) => `  ${n.name.padEnd(10)}  ${n.url}   (JetStream store in ${dir}/${n.name})`).join(
      "\n",
    )
  }
  postgres    ${cluster.databaseUrl.replace(/:[^:@/]*@/, ":***@")}
  admin       ${cluster.admin.name} / ${cluster.admin.password}   (${dir}/admin-password)
  ws secret   ${cluster.wsSecret}   (${dir}/ws-secret)
  secrets     ${dir}/secrets.env (0600, every instance's envFile)
Instances and NATS nodes that exit are started again. Ctrl-C (or SIGTERM) stops everything.`);
  const why = await stop.promise;
  clearInterval(orphaned);
  console.log(`${why}: stopping the cluster…`);
  await cluster.close();
  return 0;
}

if (import.meta.main) Deno.exit(await main());
