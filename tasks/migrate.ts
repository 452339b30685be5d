/**
 * `deno task migrate`: reads the config like main.ts, opens the database (which applies the
 * pending migrations of db/migrations) and prints what was applied.
 */
import { loadProcessConfig } from "../core/config.ts";
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
