/**
 * A real Postgres for a test: a fresh database on `TEST_DATABASE_URL` when set, else an
 * embedded server in a fresh directory under /tmp on a random port.
 */
import postgres from "postgres";
import { startEmbeddedPostgres } from "../../db/embedded.ts";
import { childrenOf } from "../../tasks/process.ts";

/** A test database. Close it in the test that started it. */
export interface TestPostgres {
  /** Connection URL of the test database. */
  url: string;
  /** A pool on `url` (max 10), ended by `close()`. */
  sql: postgres.Sql;
  /** Stops the server, keeping its data (embedded only: an outage). */
  stop(): Promise<void>;
  /** Starts the same server again on the same port and data (embedded only). */
  start(): Promise<void>;
  /**
   * Freezes the server and its backends (SIGSTOP: connections stay open, nothing answers) or
   * thaws them (SIGCONT) — a stuck database, not a stopped one (embedded only).
   */
  freeze(on: boolean): Promise<void>;
  /** Ends the pool and removes everything: the database, or the server and its directory. */
  close(): Promise<void>;
}

/** Starts a fresh, empty database (no migrations applied). */
export async function startTestPostgres(): Promise<TestPostgres> {
  const external = Deno.env.get("TEST_DATABASE_URL");
  return external ? await freshDatabase(external) : await embeddedServer();
}

async function freshDatabase(serverUrl: string): Promise<TestPostgres> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const name = `poa_test_${crypto.randomUUID().replaceAll("-", "")}`;
  try {
    await admin`create database ${admin(name)}`;
  } catch (err) {
    await admin.end();
    throw err;
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 10, onnotice: () => {} });
  let closing: Promise<void> | undefined;
  const unsupported = () =>
    Promise.reject(new Error("stop()/start() need the embedded server: unset TEST_DATABASE_URL"));
  return {
    url: url.href,
    sql,
    stop: unsupported,
    start: unsupported,
    freeze: unsupported,
    close() {
      closing ??= (async () => {
        try {
          await sql.end({ timeout: 1 });
          await admin`drop database if exists ${admin(name)} with (force)`;
        } finally {
          await admin.end({ timeout: 1 });
        }
      })();
      return closing;
    },
  };
}

/** Waits (at most 2 s) until process `pid` is stopped by a signal (state T in /proc), or gone. */
async function stopped(pid: number): Promise<void> {
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    let state: string;
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      return; // gone
    }
    if (state === "T" || state === "t") return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  throw new Error(`process ${pid} not stopped within 2 s of SIGSTOP`);
}

async function embeddedServer(): Promise<TestPostgres> {
  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-test-pg-" });
  let server;
  try {
    server = await startEmbeddedPostgres({ dataDir });
  } catch (err) {
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    throw err;
  }
  const port = server.port;
  const url = server.url;
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  let current: typeof server | undefined = server;
  let closing: Promise<void> | undefined;
  let frozen = false;
  async function freeze(on: boolean): Promise<void> {
    const postmaster = Number((await Deno.readTextFile(`${dataDir}/pgdata/postmaster.pid`)).split("\n")[0]);
    const signal = on ? "SIGSTOP" : "SIGCONT";
    // The postmaster first: once it is stopped it forks no new backend, so the children listed
    // after it are all there are (listed before, one forked in between would keep serving). A
    // signal is sent, not yet taken: wait until the kernel shows it stopped (in a busy CI run a
    // backend forked after the listing had answered an admin call "while frozen").
    Deno.kill(postmaster, signal);
    if (on) await stopped(postmaster);
    for (const pid of childrenOf(postmaster)) {
      Deno.kill(pid, signal);
      if (on) await stopped(pid);
    }
    frozen = on;
  }
  return {
    url,
    sql,
    async stop() {
      await current?.stop();
      current = undefined;
    },
    async start() {
      if (closing) throw new Error("the test database is closed");
      current ??= await startEmbeddedPostgres({ dataDir, port });
    },
    freeze,
    close() {
      closing ??= (async () => {
        try {
          if (frozen) await freeze(false);
          await sql.end({ timeout: 1 });
          await current?.stop();
          current = undefined;
        } finally {
          await Deno.remove(dataDir, { recursive: true });
        }
      })();
      return closing;
    },
  };
}
