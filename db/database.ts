/** Opens the service's Postgres: the configured `postgres.url`, or an embedded server. */
import postgres from "postgres";
import { exists } from "../core/files.ts";
import { prepareEmbeddedDir, startEmbeddedPostgres } from "./embedded.ts";
import { blockedParent, ensureOsUser } from "./embedded_host.ts";
import { migrate } from "./migrate.ts";

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /** An external server; without it an embedded server runs in `embeddedDirOf(dataDir)`. */
  url?: string;
  /** The service's data directory. */
  dataDir: string;
}

/** An open, migrated database. */
export interface Database {
  /** The connection pool (at most 10 connections). */
  sql: postgres.Sql;
  /** The connection URL (holds the password: do not log it). */
  url: string;
  /** Whether this process started the server. */
  embedded: boolean;
  /** The embedded server's directory (its cluster and password file; see `embeddedDirOf`). */
  embeddedDir?: string;
  /** Migration versions applied while opening (empty when the schema was up to date). */
  applied: string[];
  /** Ends the pool, then stops the embedded server. Idempotent. */
  close(): Promise<void>;
}

/** Where embedded servers live whose data dir their OS user cannot enter (see `embeddedDirOf`). */
export const EMBEDDED_FALLBACK_ROOT = "/var/lib/poa-backend";

/**
 * Where the embedded server of `dataDir` lives: `<dataDir>/postgres`; but as root, when the OS user
 * `postgres` the server runs as cannot enter `dataDir` (a checkout under /root, 0700, with the
 * default `data`), `/var/lib/poa-backend/postgres-<hash of dataDir's real path>`, so that the first
 * start works as written. Once a cluster exists in one of the two places, that one is kept.
 */
export async function embeddedDirOf(dataDir: string): Promise<string> {
  const inside = `${dataDir}/postgres`;
  if (Deno.uid() !== 0) return inside;
  await Deno.mkdir(dataDir, { recursive: true });
  const real = await Deno.realPath(dataDir);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(real));
  const hex = [...new Uint8Array(digest)].slice(0, 8).map((b) => b.toString(16).padStart(2, "0")).join("");
  const outside = `${EMBEDDED_FALLBACK_ROOT}/postgres-${hex}`;
  if (await exists(`${outside}/pgdata`)) return outside;
  if (await exists(`${inside}/pgdata`)) return inside;
  return await blockedParent(real, await ensureOsUser()) === null ? inside : outside;
}

/**
 * Without a url: whether the embedded server can run (as root, its OS user must reach its
 * directory), checked before a service starts: found by the first receiver to connect, it was
 * retried for ever, the service never ready. Throws what to change.
 */
export async function checkEmbeddedDir(dataDir: string): Promise<void> {
  await prepareEmbeddedDir(await embeddedDirOf(dataDir));
}

/** Connects (starting the embedded server when no url is given) and applies pending migrations. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const embeddedDir = options.url ? undefined : await embeddedDirOf(options.dataDir);
  const server = embeddedDir === undefined
    ? undefined
    : await startEmbeddedPostgres({ dataDir: embeddedDir });
  const url = options.url ?? server!.url;
  const sql = postgres(url, { max: 10, onnotice: () => {} });
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      try {
        await sql.end({ timeout: 5 });
      } finally {
        await server?.stop();
      }
    })();
  try {
    const applied = await migrate(sql);
    return { sql, url, embedded: server !== undefined, embeddedDir, applied, close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
