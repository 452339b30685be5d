import assert from "node:assert/strict";
import postgres from "postgres";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { listMigrations, migrate } from "./migrate.ts";

/** Runs `fn` on a pool to a database of its own on the test server, dropped afterwards. */
async function withFreshDatabase(
  server: { url: string; sql: postgres.Sql },
  fn: (sql: postgres.Sql, url: string) => Promise<void>,
): Promise<void> {
  const name = `m_${crypto.randomUUID().replaceAll("-", "")}`;
  await server.sql`create database ${server.sql(name)}`;
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  const sql = postgres(url.href, { max: 4, onnotice: () => {} });
  try {
    await fn(sql, url.href);
  } finally {
    await sql.end({ timeout: 1 });
    await server.sql`drop database ${server.sql(name)} with (force)`;
  }
}

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "poa-migrations-" });
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(`${dir}/${name}`, text);
  return dir;
}

Deno.test("migrations", async (t) => {
  const server = await startTestPostgres();
  try {
    const shipped = (await listMigrations()).map((m) => m.version);

    await t.step("the shipped migrations are sorted by name and start with 0001_stats", () => {
      assert.equal(shipped[0], "0001_stats");
      assert.deepEqual(shipped, [...shipped].sort());
    });

    await t.step(
      "migrate applies every file once and records its version; a second run applies nothing",
      async () => {
        await withFreshDatabase(server, async (sql) => {
          assert.deepEqual(await migrate(sql), shipped);
          const rows = await sql<{ version: string; applied_at: Date }[]>`
          select version, applied_at from schema_migrations order by version`;
          assert.deepEqual(rows.map((r) => r.version), shipped);
          for (const row of rows) assert.ok(row.applied_at instanceof Date);
          assert.deepEqual(await migrate(sql), []);
          assert.equal((await sql`select version from schema_migrations`).length, shipped.length);
        });
      },
    );

    await t.step(
      "0001_stats creates eth_stats and system_stats with the original columns plus msg_id",
      async () => {
        await withFreshDatabase(server, async (sql) => {
          await migrate(sql);
          const columns = async (table: string) =>
            (await sql<{ column_name: string; data_type: string }[]>`
            select column_name, data_type from information_schema.columns
            where table_schema = current_schema() and table_name = ${table} order by ordinal_position`)
              .map((c) => `${c.column_name} ${c.data_type}`);
          assert.deepEqual(await columns("eth_stats"), [
            "date timestamp without time zone",
            "agent_id text",
            "active boolean",
            "mining boolean",
            "hashrate bigint",
            "peers integer",
            "gas_price bigint",
            "current_block text",
            "highest_block text",
            "starting_block text",
            "msg_id uuid",
          ]);
          assert.deepEqual(await columns("system_stats"), [
            "date timestamp without time zone",
            "agent_id text",
            "cpu_load double precision",
            "disk_usage bigint",
            "memory_usage double precision",
            "msg_id uuid",
          ]);
          const indexes = await sql<{ indexname: string }[]>`
          select indexname from pg_indexes where schemaname = current_schema() order by indexname`;
          for (
            const name of [
              "eth_stats_agent_id_date_idx",
              "eth_stats_msg_id_key",
              "system_stats_agent_id_date_idx",
              "system_stats_msg_id_key",
            ]
          ) {
            assert.ok(indexes.some((i) => i.indexname === name), `index ${name}`);
          }
        });
      },
    );

    await t.step("two migrators at once apply each file exactly once", async () => {
      await withFreshDatabase(server, async (sql, url) => {
        const other = postgres(url, { max: 4, onnotice: () => {} });
        try {
          const [a, b] = await Promise.all([migrate(sql), migrate(other)]);
          assert.deepEqual([...a, ...b].sort(), shipped);
          assert.equal((await sql`select version from schema_migrations`).length, shipped.length);
        } finally {
          await other.end({ timeout: 1 });
        }
      });
    });

    await t.step("a failing migration is rolled back and not recorded; the ones before it stay", async () => {
      const dir = await migrationsDir({
        "0002_bad.sql": "create table later (x int);\nselect * from no_such_table;",
        "0001_ok.sql": "create table first (x int);\ncreate table second (y int);",
        "README.md": "not a migration",
      });
      try {
        await withFreshDatabase(server, async (sql) => {
          await assert.rejects(migrate(sql, { dir }), /migration 0002_bad failed: .*no_such_table/);
          const versions = await sql`select version from schema_migrations`;
          assert.deepEqual(versions.map((r) => r.version), ["0001_ok"]);
          const tables = await sql`
            select table_name from information_schema.tables
            where table_schema = current_schema() and table_name in ('first', 'second', 'later')
            order by table_name`;
          assert.deepEqual(tables.map((r) => r.table_name), ["first", "second"]);
          // Fixed, it applies on the next run.
          await Deno.writeTextFile(`${dir}/0002_bad.sql`, "create table later (x int);");
          assert.deepEqual(await migrate(sql, { dir }), ["0002_bad"]);
        });
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });

    await t.step("a schema_migrations table from another tool is refused with a clear error", async () => {
      await withFreshDatabase(server, async (sql) => {
        await sql`create table schema_migrations (version bigint primary key, inserted_at timestamp)`;
        await assert.rejects(migrate(sql), /schema_migrations exists but was not created by poa-backend/);
      });
    });
  } finally {
    await server.close();
  }
});
