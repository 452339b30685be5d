/** Opens the service's Postgres: the configured `postgres.url`, or an embedded server. */
import postgres from "postgres";
import { prepareEmbeddedDir, startEmbeddedPostgres } from "./embedded.ts";
import { migrate } from "./migrate.ts";

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /** An external server; without it an embedded server runs in `${dataDir}/postgres`. */
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
  /** Migration versions applied while opening (empty when the schema was up to date). */
  applied: string[];
  /** Ends the pool, then stops the embedded server. Idempotent. */
  close(): Promise<void>;
}

/**
 * Without a url: whether the embedded server can run in `${dataDir}/postgres` (as root, its OS
 * user must reach it), checked before a service starts: found by the first receiver to connect,
 * it was retried for ever, the service never ready. Throws what to change.
 */
export async function checkEmbeddedDir(dataDir: string): Promise<void> {
  await prepareEmbeddedDir(`${dataDir}/postgres`);
}

/** Connects (starting the embedded server when no url is given) and applies pending migrations. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const server = options.url
    ? undefined
    : await startEmbeddedPostgres({ dataDir: `${options.dataDir}/postgres` });
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
    return { sql, url, embedded: server !== undefined, applied, close };
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
}
