import assert from "node:assert/strict";
import type postgres from "postgres";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { openDatabase } from "./database.ts";
import { listMigrations } from "./migrate.ts";

async function tables(sql: postgres.Sql): Promise<string[]> {
  const rows = await sql<{ table_name: string }[]>`
    select table_name from information_schema.tables
    where table_schema = current_schema() and table_name in ('eth_stats', 'system_stats', 'schema_migrations')
    order by table_name`;
  return rows.map((r) => r.table_name);
}

Deno.test("openDatabase", async (t) => {
  const shipped = (await listMigrations()).map((m) => m.version);

  await t.step(
    "without a url it starts an embedded server under dataDir/postgres, migrated; close stops it",
    async () => {
      const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-database-test-" });
      // makeTempDir is 0700: as root, OS user postgres (the server's) could not enter it.
      await Deno.chmod(dataDir, 0o755);
      try {
        const db = await openDatabase({ dataDir });
        let port: number;
        try {
          assert.equal(db.embedded, true);
          assert.deepEqual(db.applied, shipped);
          assert.deepEqual(await tables(db.sql), ["eth_stats", "schema_migrations", "system_stats"]);
          assert.ok((await Deno.stat(`${dataDir}/postgres/pgdata/PG_VERSION`)).isFile);
          port = Number(new URL(db.url).port);
        } finally {
          await db.close();
          await db.close();
        }
        await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
        const again = await openDatabase({ dataDir });
        try {
          assert.deepEqual(again.applied, []);
        } finally {
          await again.close();
        }
      } finally {
        await Deno.remove(dataDir, { recursive: true });
      }
    },
  );

  await t.step("with a url it uses that server, migrated; close leaves the server running", async () => {
    const server = await startTestPostgres();
    try {
      const db = await openDatabase({ url: server.url, dataDir: "/nonexistent" });
      try {
        assert.equal(db.embedded, false);
        assert.equal(db.url, server.url);
        assert.deepEqual(db.applied, shipped);
      } finally {
        await db.close();
      }
      assert.deepEqual(await tables(server.sql), ["eth_stats", "schema_migrations", "system_stats"]);
    } finally {
      await server.close();
    }
  });

  await t.step("an unreachable url is an error, and nothing stays open", async () => {
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    await assert.rejects(
      openDatabase({ url: `postgres://postgres:x@127.0.0.1:${port}/postgres`, dataDir: "/nonexistent" }),
    );
  });
});
