import assert from "node:assert/strict";
import type postgres from "postgres";
import type { Receiver } from "../core/receiver.ts";
import { migrate } from "../db/migrate.ts";
import { eventually } from "../tests/support/agent.ts";
import {
  reportMessage,
  statisticsSynced,
  systemStatistics as systemStatisticsData,
} from "../tests/support/fixtures.ts";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { ethStatsReceiverType } from "./eth_stats.ts";
import { createTablePruner } from "./stats_retention.ts";
import { systemStatsReceiverType } from "./system_stats.ts";

const DAY_MS = 86_400_000;

const ethStatistics = (agentId: string, receivedAt: number) =>
  reportMessage(agentId, statisticsSynced, { receivedAt });
const systemStatistics = (agentId: string, receivedAt: number) =>
  reportMessage(agentId, systemStatisticsData, { dataType: "system_metrics", receivedAt });

async function countOf(sql: postgres.Sql, table: string, agentId: string): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from ${sql(table)} where agent_id = ${agentId}`;
  return row!.n;
}

Deno.test("statistics retention", async (t) => {
  const server = await startTestPostgres();
  const { sql } = server;
  try {
    await migrate(sql);

    await t.step(
      "eth_stats with retentionDays deletes the older rows at start and keeps the others",
      async () => {
        const agent = `agent-${crypto.randomUUID()}`;
        const now = Date.now();
        // Written by a receiver without retention (rows of past days, as a running service leaves them).
        const writer = await buildEth(sql, {});
        await writer.init!();
        await writer.receive([
          ethStatistics(agent, now - 40 * DAY_MS),
          ethStatistics(agent, now - 31 * DAY_MS),
          ethStatistics(agent, now - 29 * DAY_MS),
          ethStatistics(agent, now - 60_000),
        ]);
        assert.equal(await countOf(sql, "eth_stats", agent), 4);

        const receiver = await buildEth(sql, { retentionDays: 30 });
        try {
          await receiver.init!();
          await eventually(
            async () => (await countOf(sql, "eth_stats", agent)) === 2 || undefined,
            5000,
            "the old rows to go",
          );
          const [oldest] = await sql<{ days: number }[]>`
          select extract(epoch from (now() at time zone 'utc') - min(date)) / 86400 as days
          from eth_stats where agent_id = ${agent}`;
          assert.ok(
            Number(oldest!.days) < 30 && Number(oldest!.days) > 28,
            `oldest kept: ${oldest!.days} days`,
          );
          assert.ok(receiver.stats!().rows_pruned! >= 2);
          assert.equal(receiver.stats!().prune_failures, 0);
          const [index] = await sql`
            select indisvalid from pg_index where indexrelid = to_regclass('eth_stats_date_idx')`;
          assert.equal(index?.indisvalid, true);
        } finally {
          await receiver.close!();
        }
      },
    );

    await t.step("system_stats on a table of its own prunes that table only", async () => {
      const agent = `agent-${crypto.randomUUID()}`;
      const now = Date.now();
      const writer = await buildSystem(sql, { table: "system_stats_kept" });
      await writer.init!();
      await writer.receive([systemStatistics(agent, now - 2 * DAY_MS), systemStatistics(agent, now)]);
      const base = await buildSystem(sql, {});
      await base.init!();
      await base.receive([systemStatistics(agent, now - 2 * DAY_MS)]);

      const receiver = await buildSystem(sql, { table: "system_stats_kept", retentionDays: 1 });
      try {
        await receiver.init!();
        await eventually(
          async () => (await countOf(sql, "system_stats_kept", agent)) === 1 || undefined,
          5000,
          "the old row to go",
        );
      } finally {
        await receiver.close!();
      }
      assert.equal(await countOf(sql, "system_stats", agent), 1);
    });

    await t.step(
      "a large backlog is deleted in batches, and rows another session holds are skipped, not waited for",
      async () => {
        const agent = `agent-${crypto.randomUUID()}`;
        const old = Date.now() - 10 * DAY_MS;
        const writer = await buildEth(sql, { table: "eth_stats_backlog" });
        await writer.init!();
        await writer.receive(Array.from({ length: 500 }, (_, i) => ethStatistics(agent, old + i)));
        const statements: string[] = [];
        const counting = new Proxy(sql, {
          get(target, key, receiver) {
            if (key !== "unsafe") return Reflect.get(target, key, receiver);
            return (query: string, ...args: unknown[]) => {
              statements.push(query);
              return (target.unsafe as (...a: unknown[]) => unknown)(query, ...args);
            };
          },
        });
        const pruner = createTablePruner(() => Promise.resolve(counting), {
          table: "eth_stats_backlog",
          keepMs: DAY_MS,
          intervalMs: 60_000,
          batchRows: 40,
          pauseMs: 0,
          name: "test",
        });
        // Another instance's pruner (or anyone) holds 30 of the old rows in an open transaction.
        let release = () => {};
        const held = new Promise<void>((resolve) => release = resolve);
        let locked = () => {};
        const lockedRows = new Promise<void>((resolve) => locked = resolve);
        const holder = sql.begin(async (tx) => {
          await tx`select 1 from eth_stats_backlog where agent_id = ${agent} order by date limit 30 for update`;
          locked();
          await held;
        });
        await lockedRows;
        const first = await Promise.race([
          pruner.prune(),
          new Promise<"waited">((resolve) => setTimeout(() => resolve("waited"), 5000)),
        ]);
        release();
        await holder;
        // Without SKIP LOCKED the delete would wait for that transaction (here: 5 s, then "waited").
        assert.equal(first, 470);
        assert.equal(await pruner.prune(), 30);
        assert.equal(await countOf(sql, "eth_stats_backlog", agent), 0);
        const deletes = statements.filter((s) => s.startsWith("delete")).length;
        assert.ok(deletes >= 470 / 40, `${deletes} deletes of at most 40 rows`);
      },
    );

    await t.step("an index build cut short (left invalid) is dropped and built again", async () => {
      // Without `including all`: the date index a receiver made on eth_stats is not copied.
      await sql`create table eth_stats_cut (like eth_stats)`;
      await sql`insert into eth_stats_cut (date, agent_id)
        values (now() - interval '3 days', 'a'), (now() - interval '3 days', 'b')`;
      // A unique build over two equal dates fails and leaves the index there, invalid.
      await assert.rejects(
        sql.unsafe(`create unique index concurrently "eth_stats_cut_date_idx" on eth_stats_cut (date)`),
      );
      const validity = () =>
        sql`select indisvalid from pg_index where indexrelid = to_regclass('eth_stats_cut_date_idx')`;
      assert.equal((await validity())[0]?.indisvalid, false);
      const pruner = createTablePruner(() => Promise.resolve(sql), {
        table: "eth_stats_cut",
        keepMs: DAY_MS,
        intervalMs: 60_000,
        name: "test",
      });
      assert.equal(await pruner.prune(), 2);
      assert.equal((await validity())[0]?.indisvalid, true);
    });

    await t.step("a failing run is counted, logged once per streak, and tried again", async () => {
      const errors: string[] = [];
      const original = console.error;
      console.error = (...args: unknown[]) => void errors.push(args.map(String).join(" "));
      let attempts = 0;
      const pruner = createTablePruner(() => {
        attempts++;
        return Promise.reject(new Error("connection refused"));
      }, { table: "eth_stats", keepMs: DAY_MS, intervalMs: 20, name: "receiver x" });
      try {
        pruner.start();
        await eventually(() => attempts >= 3 || undefined, 5000, "three attempts");
      } finally {
        await pruner.stop();
        console.error = original;
      }
      assert.ok(pruner.stats().prune_failures >= 3);
      assert.equal(errors.length, 1);
      assert.match(
        errors[0]!,
        /receiver x: deleting old rows of eth_stats failed \(retried\).*connection refused/,
      );
    });
  } finally {
    await server.close();
  }
});

Deno.test("retentionDays must be a positive number of days", () => {
  for (const bad of [0, -1, "30", 100_000]) {
    assert.equal(ethStatsReceiverType.options.safeParse({ retentionDays: bad }).success, false, String(bad));
  }
  assert.equal(ethStatsReceiverType.options.parse({ retentionDays: 0.5 }).retentionDays, 0.5);
  assert.equal(systemStatsReceiverType.options.parse({}).retentionDays, undefined);
  assert.equal(systemStatsReceiverType.options.safeParse({ pruneIntervalMs: 10 }).success, false);
});

function buildEth(sql: postgres.Sql, extra: Record<string, unknown>): Promise<Receiver> {
  return Promise.resolve(ethStatsReceiverType.create(ethStatsReceiverType.options.parse(extra), {
    config: { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
    dataDir: "unused",
    postgres: () => Promise.resolve(sql),
  }));
}

function buildSystem(sql: postgres.Sql, extra: Record<string, unknown>): Promise<Receiver> {
  return Promise.resolve(systemStatsReceiverType.create(systemStatsReceiverType.options.parse(extra), {
    config: { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
    dataDir: "unused",
    postgres: () => Promise.resolve(sql),
  }));
}
