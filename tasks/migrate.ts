/**
 * `deno task migrate`: reads the config like main.ts, opens the database (which applies the
 * pending migrations of db/migrations) and prints what was applied.
 */
import { loadProcessConfig } from "../core/config.ts";
import { createKvFile, usesKvFile } from "../core/data_dir.ts";
import { openDatabase } from "../db/database.ts";

async function main(): Promise<number> {
  const loaded = await loadProcessConfig();
  if (!loaded.ok) {
    console.error(loaded.message);
    return 2;
  }
  const config = loaded.config;
  let db;
  try {
    // The local KV file made when missing, as the start does, first: it refuses a data dir whose
    // users an earlier version kept elsewhere, as the start would. Before, a migrate before the
    // first start left a data dir with a Postgres and no KV file, which every start then refused.
    if (usesKvFile(config)) await createKvFile(config);
    db = await openDatabase({ url: config.postgres.url, dataDir: config.dataDir });
  } catch (err) {
    console.error(`migrate: ${(err as Error).message}`);
    return 1;
  }
  try {
    const where = db.embedded ? `embedded server in ${config.dataDir}/postgres` : "postgres.url";
    console.log(
      db.applied.length > 0
        ? `applied ${db.applied.join(", ")} (${where})`
        : `nothing to apply: the schema is up to date (${where})`,
    );
  } finally {
    await db.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
