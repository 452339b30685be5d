/**
 * Versioned schema migrations: the `*.sql` files of `db/migrations`, applied once each in
 * name order and recorded in `schema_migrations` (`deno task migrate`: tasks/migrate.ts).
 */
import type postgres from "postgres";

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** Folder of `*.sql` files (default: `migrations/` beside this module). */
  dir?: string | URL;
}

/** One migration file; its version is the file name without `.sql`. */
export interface Migration {
  version: string;
  path: string;
}

/** Key of the advisory lock that serialises migrators (any constant unique to this schema). */
const LOCK_KEY = 7_061_960_523;

/** The migration files of `dir`, sorted by name. */
export async function listMigrations(
  dir: string | URL = new URL("./migrations/", import.meta.url),
): Promise<Migration[]> {
  const path = dir instanceof URL ? decodeURIComponent(dir.pathname) : dir;
  const files: Migration[] = [];
  for await (const entry of Deno.readDir(path)) {
    if (entry.isFile && entry.name.endsWith(".sql")) {
      files.push({
        version: entry.name.slice(0, -".sql".length),
        path: `${path.replace(/\/$/, "")}/${entry.name}`,
      });
    }
  }
  return files.sort((a, b) => a.version < b.version ? -1 : a.version > b.version ? 1 : 0);
}

/**
 * Applies the pending migrations, each in its own transaction together with its
 * `schema_migrations` row, and returns the versions it applied (none when up to date). A
 * transaction-scoped advisory lock makes concurrent runs (two instances starting at once)
 * wait for each other instead of applying a file twice.
 */
export async function migrate(sql: postgres.Sql, options: MigrateOptions = {}): Promise<string[]> {
  const migrations = await listMigrations(options.dir);
  const applied: string[] = [];
  for (const migration of migrations) {
    const text = await Deno.readTextFile(migration.path);
    const done = await sql.begin(async (tx) => {
      await tx.unsafe(`select pg_advisory_xact_lock(${LOCK_KEY})`);
      await ensureMigrationsTable(tx);
      const [row] = await tx`select 1 as found from schema_migrations where version = ${migration.version}`;
      if (row) return false;
      try {
        await tx.unsafe(text);
      } catch (err) {
        throw new Error(`migration ${migration.version} failed: ${(err as Error).message}`, { cause: err });
      }
      await tx`insert into schema_migrations (version) values (${migration.version})`;
      return true;
    });
    if (done) applied.push(migration.version);
  }
  return applied;
}

async function ensureMigrationsTable(tx: postgres.TransactionSql): Promise<void> {
  await tx`
    create table if not exists schema_migrations (
      version text primary key,
      applied_at timestamptz not null default now()
    )`;
  const columns = await tx<{ column_name: string }[]>`
    select column_name from information_schema.columns
    where table_schema = current_schema() and table_name = 'schema_migrations'`;
  if (!columns.some((c) => c.column_name === "applied_at")) {
    // E.g. the original Elixir service's Ecto table (version bigint, inserted_at).
    throw new Error(
      "table schema_migrations exists but was not created by poa-backend (no applied_at column); " +
        "use a fresh database or schema for poa-backend",
    );
  }
}
