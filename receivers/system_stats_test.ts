import assert from "node:assert/strict";
import postgres from "postgres";
import type { Message } from "../core/message.ts";
import { migrate } from "../db/migrate.ts";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { systemStatsReceiverType } from "./system_stats.ts";
import type { Receiver } from "../core/receiver.ts";
import { reportMessage } from "../tests/support/fixtures.ts";

const RECEIVED_AT = Date.UTC(2024, 5, 30, 23, 59, 59, 5);

/** Builds the receiver the way the registry does: options through the zod schema. */
async function build(sql: postgres.Sql, extra: Record<string, unknown> = {}): Promise<Receiver> {
  const options = systemStatsReceiverType.options.parse(extra);
  return await systemStatsReceiverType.create(options, {
    config: { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
    dataDir: "unused",
    postgres: () => Promise.resolve(sql),
  });
}

function message(agentId: string, data: Record<string, unknown>, overrides: Partial<Message> = {}): Message {
  return reportMessage(agentId, data, { dataType: "system_metrics", receivedAt: RECEIVED_AT, ...overrides });
}

function statistics(agentId: string, body: unknown, overrides: Partial<Message> = {}): Message {
  return message(agentId, { type: "statistics", body }, overrides);
}

/** The original's fixture (test/receivers/system_stats_test.exs). */
function systemStats(): Record<string, unknown> {
  return { cpu_load: 9.1234, disk_usage: 75, memory_usage: 10.1234 };
}

function agent(): string {
  return `agent-${crypto.randomUUID().slice(0, 8)}`;
}

function rowsOf(sql: postgres.Sql, agentId: string) {
  return sql`
    select date::text as date, agent_id, cpu_load, disk_usage, memory_usage, msg_id
    from system_stats where agent_id = ${agentId} order by date, msg_id`;
}

async function countOf(sql: postgres.Sql, agentId: string): Promise<number> {
  const [row] = await sql<
    { n: number }[]
  >`select count(*)::int as n from system_stats where agent_id = ${agentId}`;
  return row!.n;
}

async function capturingWarnings(fn: () => Promise<void> | void): Promise<string[]> {
  const lines: string[] = [];
  const original = console.warn;
  console.warn = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    await fn();
  } finally {
    console.warn = original;
  }
  return lines;
}

Deno.test("system_stats receiver", async (t) => {
  const server = await startTestPostgres();
  try {
    await migrate(server.sql);

    await t.step("only statistics are accepted at push time", async () => {
      const receiver = await build(server.sql);
      const accepted = [
        statistics("a", systemStats()),
        statistics("a", { cpu_load: "high" }),
        message("a", { type: "latency", body: { latency: 1 } }),
        message("a", { body: systemStats() }),
      ].map((m) => receiver.accepts!(m));
      assert.deepEqual(accepted, [true, true, false, false]);
    });

    await t.step("system statistics become a row, column by column", async () => {
      const receiver = await build(server.sql);
      await receiver.init!();
      const msg = statistics("agent_id1", systemStats());
      await receiver.receive([msg]);
      assert.deepEqual([...await rowsOf(server.sql, "agent_id1")], [{
        date: "2024-06-30 23:59:59.005",
        agent_id: "agent_id1",
        cpu_load: 9.1234,
        disk_usage: "75",
        memory_usage: 10.1234,
        msg_id: msg.id,
      }]);
      assert.deepEqual(receiver.stats!(), { rows_written: 1, skipped_malformed: 0, batches_rewritten: 0 });
    });

    await t.step("a batch of 1000 messages is written with one INSERT statement", async () => {
      const statements: string[] = [];
      const observed = postgres(server.url, {
        max: 10,
        onnotice: () => {},
        debug: (_connection, query) => void statements.push(query),
      });
      try {
        const receiver = await build(observed);
        await receiver.init!();
        statements.length = 0;
        const id = agent();
        const batch = Array.from(
          { length: 1000 },
          (_, i) => statistics(id, { ...systemStats(), cpu_load: i / 10 }, { receivedAt: RECEIVED_AT + i }),
        );
        await receiver.receive(batch);
        assert.equal(statements.filter((q) => /^\s*insert\b/i.test(q)).length, 1);
        assert.equal(statements.length, 1);
        assert.equal(await countOf(server.sql, id), 1000);
      } finally {
        await observed.end({ timeout: 1 });
      }
    });

    await t.step("the same batch received twice is stored exactly once", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      const batch = Array.from({ length: 20 }, () => statistics(id, systemStats()));
      await receiver.receive(batch);
      await receiver.receive(batch);
      assert.equal(await countOf(server.sql, id), 20);
      assert.equal(receiver.stats!().rows_written, 20);
    });

    await t.step(
      "malformed system statistics are skipped and counted; good ones in the batch are written",
      async () => {
        const receiver = await build(server.sql);
        const good = agent();
        const bad = agent();
        const { memory_usage: _m, ...withoutMemory } = systemStats();
        const malformed: unknown[] = [
          withoutMemory, // missing field
          { ...systemStats(), cpu_load: true }, // wrong type
          { ...systemStats(), cpu_load: "9.1" }, // string for a number
          { ...systemStats(), disk_usage: "75" }, // string for a number
          { ...systemStats(), disk_usage: 75.5 }, // bigint column
          42, // body not an object
        ];
        const warnings = await capturingWarnings(() =>
          receiver.receive([
            statistics(good, systemStats()),
            ...malformed.map((body) => statistics(bad, body)),
            statistics(good, { ...systemStats(), extra: "ignored" }),
          ])
        );
        assert.equal(await countOf(server.sql, good), 2);
        assert.equal(await countOf(server.sql, bad), 0);
        assert.deepEqual(receiver.stats!(), {
          rows_written: 2,
          skipped_malformed: malformed.length,
          batches_rewritten: 0,
        });
        // One line per 10 s, however many are skipped: an agent cannot flood the log.
        assert.equal(warnings.length, 1);
        assert.ok(warnings[0]!.includes(`agent "${bad}"`), warnings[0]);
      },
    );

    await t.step("messages that are not statistics are ignored, not counted", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      await receiver.receive([
        message(id, { type: "information", body: systemStats() }),
        message(id, { body: systemStats() }),
      ]);
      assert.equal(await countOf(server.sql, id), 0);
      assert.deepEqual(receiver.stats!(), { rows_written: 0, skipped_malformed: 0, batches_rewritten: 0 });
    });

    await t.step({
      name: "receive rejects while the server is down; after it is back the batch is stored exactly once",
      ignore: Deno.env.get("TEST_DATABASE_URL") !== undefined, // needs the embedded server to stop it
      fn: async () => {
        const receiver = await build(server.sql);
        const id = agent();
        const first = [statistics(id, systemStats()), statistics(id, systemStats())];
        await receiver.receive(first);
        await server.stop();
        const batch = [...first, statistics(id, systemStats())];
        try {
          await assert.rejects(async () => await receiver.receive(batch));
        } finally {
          await server.start();
        }
        await receiver.receive(batch);
        assert.equal(await countOf(server.sql, id), 3);
      },
    });
  } finally {
    await server.close();
  }
});
