import assert from "node:assert/strict";
import postgres from "postgres";
import type { Message } from "../core/message.ts";
import { migrate } from "../db/migrate.ts";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { ethStatsReceiverType } from "./eth_stats.ts";
import { arrayLiteral } from "./stats_table.ts";
import { arraySerializer } from "../vendor/postgres/src/types.js";
import type { Receiver } from "../core/receiver.ts";
import { createReceiverRunner, type ReceiverRunner } from "../core/runner.ts";
import { reportMessage } from "../tests/support/fixtures.ts";

const RECEIVED_AT = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

/** Builds the receiver the way the registry does: options through the zod schema, on `sql`. */
function build(sql: postgres.Sql, extra: Record<string, unknown> = {}): Promise<Receiver> {
  return buildOn(() => Promise.resolve(sql), extra);
}

/** `build`, the shared pool given as the service gives it (opened on first use). */
async function buildOn(
  open: () => Promise<postgres.Sql>,
  extra: Record<string, unknown> = {},
): Promise<Receiver> {
  const options = ethStatsReceiverType.options.parse(extra);
  return await ethStatsReceiverType.create(options, {
    config: { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
    dataDir: "unused",
    postgres: open,
  });
}

function message(agentId: string, data: Record<string, unknown>, overrides: Partial<Message> = {}): Message {
  return reportMessage(agentId, data, { receivedAt: RECEIVED_AT, ...overrides });
}

function statistics(agentId: string, body: unknown, overrides: Partial<Message> = {}): Message {
  return message(agentId, { type: "statistics", body }, overrides);
}

/** The original's fixture (test/receivers/eth_stats_test.exs), syncing as an object. */
function syncingStats(): Record<string, unknown> {
  return {
    active: true,
    gasPrice: 0,
    hashrate: 0,
    mining: false,
    peers: 3,
    syncing: {
      currentBlock: "0x44ee0",
      highestBlock: "0x44ee2",
      startingBlock: "0x40ad3",
      warpChunksAmount: null,
      warpChunksProcessed: null,
    },
    uptime: 100.0,
  };
}

function syncedStats(): Record<string, unknown> {
  return {
    active: true,
    mining: true,
    hashrate: 12,
    peers: 25,
    gasPrice: 20_000_000_000,
    syncing: false,
    uptime: 99.5,
  };
}

function agent(): string {
  return `agent-${crypto.randomUUID().slice(0, 8)}`;
}

/** The rows of an agent, every column as Postgres stores it (date as text: no JS time zone). */
function rowsOf(sql: postgres.Sql, agentId: string, table = "eth_stats") {
  return sql`
    select date::text as date, agent_id, active, mining, hashrate, peers, gas_price,
           current_block, highest_block, starting_block, msg_id
    from ${sql(table)} where agent_id = ${agentId} order by date, msg_id`;
}

async function countOf(sql: postgres.Sql, agentId: string): Promise<number> {
  const [row] = await sql<
    { n: number }[]
  >`select count(*)::int as n from eth_stats where agent_id = ${agentId}`;
  return row!.n;
}

/** Runs `fn` with console.warn captured. */
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

Deno.test("eth_stats receiver", async (t) => {
  const server = await startTestPostgres();
  try {
    await migrate(server.sql);

    await t.step(
      "only statistics are accepted at push time (malformed ones too: receive counts them)",
      async () => {
        const receiver = await build(server.sql);
        const accepted = [
          statistics("a", syncedStats()),
          statistics("a", { active: "yes" }),
          message("a", { type: "block", body: { number: 1 } }),
          message("a", { type: "information", body: {} }),
          message("a", { type: "pending", body: { pending: 1 } }),
          message("a", { body: syncedStats() }),
        ].map((m) => receiver.accepts!(m));
        assert.deepEqual(accepted, [true, true, false, false, false, false]);
      },
    );

    await t.step(
      "statistics with syncing as an object become a row with the three block columns",
      async () => {
        const receiver = await build(server.sql);
        await receiver.init!();
        const msg = statistics("agent_id1", syncingStats());
        await receiver.receive([msg]);
        assert.deepEqual([...await rowsOf(server.sql, "agent_id1")], [{
          date: "2024-01-02 03:04:05.678",
          agent_id: "agent_id1",
          active: true,
          mining: false,
          hashrate: "0",
          peers: 3,
          gas_price: "0",
          current_block: "0x44ee0",
          highest_block: "0x44ee2",
          starting_block: "0x40ad3",
          msg_id: msg.id,
        }]);
        assert.deepEqual(receiver.stats!(), {
          rows_written: 1,
          skipped_malformed: 0,
          batches_rewritten: 0,
        });
      },
    );

    await t.step("statistics with syncing false have null block columns", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      const msg = statistics(id, syncedStats());
      await receiver.receive([msg]);
      assert.deepEqual([...await rowsOf(server.sql, id)], [{
        date: "2024-01-02 03:04:05.678",
        agent_id: id,
        active: true,
        mining: true,
        hashrate: "12",
        peers: 25,
        gas_price: "20000000000",
        current_block: null,
        highest_block: null,
        starting_block: null,
        msg_id: msg.id,
      }]);
    });

    await t.step(
      "statistics with syncing true, or without syncing, are rows with null block columns",
      async () => {
        // DESIGN: the block columns come from `syncing` when it is an object, else null. These lost the row.
        const receiver = await build(server.sql);
        for (const syncing of [true, undefined, "yes"]) {
          const id = agent();
          const { syncing: _, ...rest } = syncedStats();
          await receiver.receive([statistics(id, syncing === undefined ? rest : { ...rest, syncing })]);
          const rows = [...await rowsOf(server.sql, id)];
          assert.equal(rows.length, 1, String(syncing));
          assert.deepEqual(
            [rows[0]!.current_block, rows[0]!.highest_block, rows[0]!.starting_block],
            [null, null, null],
          );
        }
      },
    );

    await t.step(
      "the inactive statistics shape (gasPrice and syncing null, no uptime) is stored",
      async () => {
        const receiver = await build(server.sql);
        const id = agent();
        await receiver.receive([
          statistics(id, {
            active: false,
            mining: false,
            hashrate: 0,
            peers: 0,
            gasPrice: null,
            syncing: null,
          }),
        ]);
        const [row] = await rowsOf(server.sql, id);
        assert.equal(row!.active, false);
        assert.equal(row!.gas_price, null);
        assert.equal(row!.current_block, null);
      },
    );

    await t.step(
      "integers past 2^53 are stored as decoded, past the bigint range as its largest",
      async () => {
        // The POA agent packs gas prices as uint64; a long's 2^63-1 decodes as 2^63.
        // Before: skipped as malformed, after a 200 to the agent.
        const receiver = await build(server.sql);
        const id = agent();
        const cases: Array<[number, number, string, string]> = [
          [2 ** 60, 2 ** 53 + 2, "1152921504606846976", "9007199254740994"],
          [0, 2 ** 63, "0", "9223372036854775807"],
          [1e30, 2 ** 64, "9223372036854775807", "9223372036854775807"],
        ];
        await receiver.receive(
          cases.map(([hashrate, gasPrice], i) =>
            statistics(id, { ...syncedStats(), hashrate, gasPrice }, { receivedAt: 1_700_000_000_000 + i })
          ),
        );
        const rows = await server
          .sql`select hashrate::text, gas_price::text from eth_stats where agent_id = ${id} order by date`;
        assert.deepEqual(rows.map((r) => [r.hashrate, r.gas_price]), cases.map(([, , h, g]) => [h, g]));
        assert.equal(receiver.stats!().skipped_malformed, 0);
      },
    );

    await t.step("a syncing object with missing or null block fields stores nulls for them", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      await receiver.receive([
        statistics(id, { ...syncingStats(), syncing: { currentBlock: "0x10", highestBlock: null } }),
      ]);
      const [row] = await rowsOf(server.sql, id);
      assert.deepEqual([row!.current_block, row!.highest_block, row!.starting_block], ["0x10", null, null]);
    });

    await t.step(
      "block numbers an ethstats node reports as numbers are stored as their decimal text",
      async () => {
        const receiver = await build(server.sql);
        const id = agent();
        await receiver.receive([
          statistics(id, {
            ...syncingStats(),
            syncing: { currentBlock: 1000, highestBlock: null, startingBlock: null },
          }),
        ]);
        const [row] = await rowsOf(server.sql, id);
        assert.equal(row!.current_block, "1000");
      },
    );

    await t.step("date is stored in UTC whatever the session time zone", async () => {
      const url = server.url;
      const auckland = postgres(url, {
        max: 1,
        onnotice: () => {},
        connection: { TimeZone: "Pacific/Auckland" },
      });
      try {
        const receiver = await build(auckland);
        const id = agent();
        await receiver.receive([statistics(id, syncedStats())]);
        const [row] = await rowsOf(server.sql, id);
        assert.equal(row!.date, "2024-01-02 03:04:05.678");
      } finally {
        await auckland.end({ timeout: 1 });
      }
    });

    await t.step(
      "a large batch is turned into rows a slice at a time: the event loop runs in between",
      async () => {
        const receiver = await build(server.sql);
        await receiver.init!();
        const id = agent();
        let read = 0;
        const batch = Array.from({ length: 5000 }, (_, i) => {
          const m = statistics(id, { ...syncedStats(), peers: i }, { receivedAt: RECEIVED_AT + i });
          const data = m.data;
          return Object.defineProperty(m, "data", {
            get: () => (read++, data),
          });
        });
        const written = receiver.receive(batch);
        const readBeforeReturning = read;
        const ticked = new Promise<number>((resolve) => setTimeout(() => resolve(read), 0));
        await written;
        assert.ok(
          readBeforeReturning < read,
          `${readBeforeReturning} of ${read} reads before receive returned`,
        );
        assert.ok(await ticked < read, "a timer ran only once every row was made");
        assert.equal(await countOf(server.sql, id), 5000);
        assert.equal(receiver.maxBatch, 200);
      },
    );

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
          (_, i) => statistics(id, { ...syncedStats(), peers: i }, { receivedAt: RECEIVED_AT + i }),
        );
        await receiver.receive(batch);
        const inserts = statements.filter((q) => /^\s*insert\b/i.test(q));
        assert.equal(inserts.length, 1, `statements sent: ${statements.length}`);
        assert.equal(statements.length, 1);
        assert.equal(await countOf(server.sql, id), 1000);
        assert.equal(receiver.stats!().rows_written, 1000);
      } finally {
        await observed.end({ timeout: 1 });
      }
    });

    await t.step("text with quotes, backslashes, commas, braces and NULL is stored as sent", async () => {
      // Every column goes to Postgres as an array literal: what its syntax uses must round-trip.
      const receiver = await build(server.sql);
      const odd = [`a"b\\c,{d}`, "NULL", "null", "ünï 😀 ' or 1=1 --", " padded ", "x\ty"];
      const batch = odd.map((id, i) =>
        statistics(id, {
          ...syncingStats(),
          peers: i,
          syncing: { currentBlock: id, highestBlock: "NULL", startingBlock: null },
        })
      );
      await receiver.receive(batch);
      for (const id of odd) {
        const rows = await rowsOf(server.sql, id);
        assert.equal(rows.length, 1, id);
        assert.deepEqual(
          [rows[0]!.agent_id, rows[0]!.current_block, rows[0]!.highest_block, rows[0]!.starting_block],
          [id, id, "NULL", null],
        );
      }
    });

    await t.step("the same batch received twice is stored exactly once", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      const batch = Array.from({ length: 50 }, () => statistics(id, syncingStats()));
      await receiver.receive(batch);
      await receiver.receive(batch);
      assert.equal(await countOf(server.sql, id), 50);
      assert.equal(receiver.stats!().rows_written, 50);
      assert.equal(receiver.stats!().batches_rewritten, 1);
    });

    await t.step("a batch of stored and new reports stores the new ones once (a replay)", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      const stored = Array.from({ length: 30 }, () => statistics(id, syncingStats()));
      await receiver.receive(stored.slice(0, 20));
      // The first 20 are in; the replayed batch overlaps them and brings 10 new ones.
      await receiver.receive(stored);
      assert.equal(await countOf(server.sql, id), 30);
      assert.deepEqual(receiver.stats!(), {
        rows_written: 30,
        skipped_malformed: 0,
        batches_rewritten: 1,
      });
      // A later batch of new reports goes in as a plain insert again.
      await receiver.receive([statistics(id, syncingStats())]);
      assert.deepEqual(receiver.stats!(), {
        rows_written: 31,
        skipped_malformed: 0,
        batches_rewritten: 1,
      });
    });

    await t.step("message ids that are not UUIDs are still written once", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      const batch = [
        statistics(id, syncedStats(), { id: "m-1" }),
        statistics(id, syncedStats(), { id: "m-2" }),
      ];
      await receiver.receive(batch);
      await receiver.receive(batch);
      assert.equal(await countOf(server.sql, id), 2);
    });

    await t.step(
      "malformed statistics are skipped, counted and warned about; good ones in the batch are written",
      async () => {
        const receiver = await build(server.sql);
        const good = agent();
        const bad = agent();
        const { peers: _peers, ...withoutPeers } = syncedStats();
        const malformed: unknown[] = [
          withoutPeers, // missing field
          { ...syncedStats(), active: "yes" }, // wrong type
          { ...syncedStats(), hashrate: "12" }, // string for a number
          { ...syncedStats(), gasPrice: "20000000000" }, // string for a number
          { ...syncedStats(), peers: 2.5 }, // not an integer
          { ...syncedStats(), peers: 2 ** 31 }, // out of the int column's range
          { ...syncedStats(), hashrate: -1 }, // negative
          { ...syncedStats(), gasPrice: 1.5 }, // not an integer
          { ...syncedStats(), syncing: { currentBlock: -17 } }, // not a block number
          { ...syncedStats(), syncing: { currentBlock: "0x1\u0000" } }, // Postgres text has no NUL
          "not an object", // body not an object
          [1, 2, 3], // body an array
          null,
        ];
        const batch = [
          statistics(good, syncedStats()),
          ...malformed.map((body) => statistics(bad, body)),
          statistics(good, syncingStats()),
          statistics("agent\u0000nul", syncedStats()),
        ];
        const warnings = await capturingWarnings(() => receiver.receive(batch));
        assert.equal(await countOf(server.sql, good), 2);
        assert.equal(await countOf(server.sql, bad), 0);
        assert.deepEqual(receiver.stats!(), {
          rows_written: 2,
          skipped_malformed: malformed.length + 1,
          batches_rewritten: 0,
        });
        // One line per 10 s, however many are skipped: an agent cannot flood the log.
        assert.equal(warnings.length, 1);
        assert.ok(warnings[0]!.includes(`agent "${bad}"`) && /peers/.test(warnings[0]!), warnings[0]);
        // What each line says (a receiver of its own each, so none is held back).
        for (
          const [agentId, body] of [...malformed.map((b) => [bad, b]), ["agent\u0000nul", syncedStats()]]
        ) {
          const alone = await build(server.sql);
          const [line, ...rest] = await capturingWarnings(() =>
            alone.receive([statistics(agentId as string, body)])
          );
          assert.deepEqual(rest, []);
          if (agentId === bad) assert.ok(line?.includes(`agent "${bad}"`), line);
          else assert.match(line!, /agent_id contains a NUL character/);
        }
        // The pipeline retries a batch whole: the same messages are not counted twice.
        assert.deepEqual(await capturingWarnings(() => receiver.receive(batch)), []);
        assert.deepEqual(receiver.stats!(), {
          rows_written: 2,
          skipped_malformed: malformed.length + 1,
          batches_rewritten: 1,
        });
      },
    );

    await t.step("messages that are not statistics are ignored, not counted", async () => {
      const receiver = await build(server.sql);
      const id = agent();
      await receiver.receive([
        message(id, { type: "information", body: { name: "parity" } }),
        message(id, { type: "block", body: { number: 1 } }),
        message(id, { type: "pending", body: { pending: 3 } }),
        message(id, { body: syncedStats() }),
        message(id, {}),
      ]);
      assert.equal(await countOf(server.sql, id), 0);
      assert.deepEqual(receiver.stats!(), {
        rows_written: 0,
        skipped_malformed: 0,
        batches_rewritten: 0,
      });
    });

    await t.step({
      name: "receive rejects while the server is down; after it is back the batch is stored exactly once",
      ignore: Deno.env.get("TEST_DATABASE_URL") !== undefined, // needs the embedded server to stop it
      fn: async () => {
        const receiver = await build(server.sql);
        const id = agent();
        const before = Array.from({ length: 5 }, () => statistics(id, syncedStats()));
        await receiver.receive(before);
        await server.stop();
        const batch = [...before, ...Array.from({ length: 5 }, () => statistics(id, syncingStats()))];
        try {
          await assert.rejects(async () => await receiver.receive(batch));
        } finally {
          await server.start();
        }
        await receiver.receive(batch);
        assert.equal(await countOf(server.sql, id), 10);
      },
    });

    await t.step("a table option other than eth_stats is created like eth_stats on init", async () => {
      const table = `eth_stats_${crypto.randomUUID().slice(0, 8)}`;
      const receiver = await build(server.sql, { table });
      await receiver.init!();
      const id = agent();
      const batch = [statistics(id, syncingStats())];
      await receiver.receive(batch);
      await receiver.receive(batch);
      assert.equal((await rowsOf(server.sql, id, table)).length, 1);
      assert.equal(await countOf(server.sql, id), 0);
    });

    await t.step(
      "every connection goes silent (half-open: a failover, a stuck proxy): after writeTimeoutMs the write is retried on new ones",
      () =>
        behindProxy(new URL(server.url), async (proxy, _receiver, runner) => {
          const id = agent();
          runner.push({ kind: "message", message: statistics(id, syncedStats()) });
          await waitUntil(async () => (await countOf(server.sql, id)) === 1);
          proxy.silenceOpen(); // every open connection stops answering; new ones work
          for (let i = 0; i < 3; i++) {
            runner.push({ kind: "message", message: statistics(id, syncedStats()) });
          }
          // Before: the write on the silent connection was awaited for good, and its retries
          // queued behind it.
          await waitUntil(async () => (await countOf(server.sql, id)) === 4);
          assert.ok(runner.stats().errors_total >= 1);
        }),
    );

    await t.step(
      "a connection silent while the receiver initialises: its init is retried on a new one",
      () =>
        behindProxy(
          new URL(server.url),
          async (_proxy, _receiver, runner) => {
            const id = agent();
            runner.push({ kind: "message", message: statistics(id, syncedStats()) });
            // Before: every retry awaited the same hung init.
            await waitUntil(async () => (await countOf(server.sql, id)) === 1);
            assert.ok(runner.stats().errors_total >= 1);
          },
          (proxy) => proxy.silenceNext(1), // the first connection opened from now on never answers
        ),
    );

    await t.step(
      "closed while its init waits for the shared pool: no pool of its own is opened after",
      async () => {
        const backends = async () =>
          (await server.sql<{ n: number }[]>`
          select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`)[0]!.n;
        const before = await backends();
        let release!: () => void;
        const gate = new Promise<void>((resolve) => release = resolve);
        const receiver = await buildOn(async () => (await gate, server.sql));
        const init = receiver.init!().then(() => "initialised", (err: Error) => err.message);
        await receiver.close!(); // a shutdown while an init (abandoned after writeTimeoutMs) still waits
        release();
        assert.match(await init, /closed/);
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.equal(await backends(), before); // before: one opened then, never ended
      },
    );

    await t.step(
      "its own pool keeps its reconnect count apart from the shared pool's (whose backoff it paces)",
      async () => {
        const shared = postgres("postgres://nobody:nothing@127.0.0.1:1/none", { max: 1, connect_timeout: 1 });
        try {
          const receiver = await build(shared);
          for (let i = 0; i < 3; i++) await receiver.init!().catch(() => {}); // nothing listens there
          const retries = (shared.options as unknown as { shared: { retries: number } }).shared.retries;
          assert.equal(retries, 0); // before: 2, though the shared pool never tried
          await receiver.close!();
        } finally {
          await shared.end({ timeout: 0 });
        }
      },
    );

    await t.step("options: unknown keys and table names that are not plain identifiers are refused", () => {
      assert.equal(ethStatsReceiverType.options.safeParse({}).success, true);
      assert.equal(ethStatsReceiverType.options.safeParse({ tabel: "x" }).success, false);
      assert.equal(ethStatsReceiverType.options.safeParse({ table: "eth stats; drop" }).success, false);
    });
  } finally {
    await server.close();
  }
});

Deno.test("a column's array literal is the text postgres.js makes of the same array", () => {
  const values = ['a"b', "c\\d", "{e,f}", "NULL", "", " x ", 'h\\"i', "😀", "2024-01-02T03:04:05.678Z"];
  const rows = [...values, 1, 0, -2.5, 20_000_000_000, true, false, null].map((value) => ({ v: value }));
  const viaPostgresJs = arraySerializer(rows.map((r) => r.v), undefined, { transform: {} }, 1009);
  assert.equal(arrayLiteral(rows, "v"), viaPostgresJs);
});

/**
 * A receiver (writeTimeoutMs 300) and its runner on a shared pool of one connection through a
 * silencing proxy to `target`, ended afterwards.
 */
async function behindProxy(
  target: URL,
  fn: (
    proxy: ReturnType<typeof silencingProxy>,
    receiver: Receiver,
    runner: ReceiverRunner,
  ) => Promise<void>,
  beforeStart: (proxy: ReturnType<typeof silencingProxy>) => void = () => {},
): Promise<void> {
  const proxy = silencingProxy(target);
  // One connection in the shared pool: a write that hung on it held every later one.
  const sql = postgres(proxy.url, { max: 1, onnotice: () => {} });
  const dir = await Deno.makeTempDir();
  try {
    const receiver = await build(sql, { writeTimeoutMs: 300 });
    beforeStart(proxy);
    const runner = createReceiverRunner(receiver, { spillDir: dir, retryBaseMs: 10 });
    await runner.start();
    await fn(proxy, receiver, runner);
    await runner.drain(1000);
  } finally {
    await sql.end({ timeout: 0 });
    proxy.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Polls `probe` every 50 ms for at most 5 s. */
async function waitUntil(probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A TCP proxy to `target` (a postgres:// URL) whose open connections can be silenced: their bytes
 * are swallowed both ways, the sockets stay open (a half-open connection); later ones pass.
 */
function silencingProxy(target: URL) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open: Array<{ silent: boolean; conns: Deno.Conn[] }> = [];
  let silentFromStart = 0;
  const pump = async (from: Deno.Conn, to: Deno.Conn, pair: { silent: boolean }) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n; (n = await from.read(buf)) !== null;) if (!pair.silent) await to.write(buf.subarray(0, n));
    } catch { /* closed */ }
    // A side that ended ends the other (a client's Terminate closes the server's side first).
    if (!pair.silent) {
      try {
        to.close();
      } catch { /* closed already */ }
    }
  };
  (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ hostname: target.hostname, port: Number(target.port) });
      const pair = { silent: silentFromStart > 0, conns: [client, upstream] };
      if (silentFromStart > 0) silentFromStart--;
      open.push(pair);
      void pump(client, upstream, pair);
      void pump(upstream, client, pair);
    }
  })().catch(() => {});
  const url = new URL(target);
  url.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: url.toString(),
    silenceOpen() {
      for (const pair of open) pair.silent = true;
    },
    /** The next `n` connections opened never answer. */
    silenceNext(n: number) {
      silentFromStart = n;
    },
    close() {
      listener.close();
      for (const pair of open) {
        for (const c of pair.conns) {
          try {
            c.close();
          } catch { /* closed by its pump */ }
        }
      }
    },
  };
}
