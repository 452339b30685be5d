/**
 * The shared part of the `eth_stats` and `system_stats` receivers: `statistics` messages
 * become rows of one Postgres table, written idempotently by `msg_id`.
 *
 * Only `statistics` messages are queued (`accepts`): the blocks, pending counts and the rest
 * of the subscribed metric types are filtered out when published; `receive` skips them too.
 *
 * Write semantics:
 * - A batch becomes ONE `insert … select * from unnest($1::type[], …)`: an array per column,
 *   so the statement is the same for every batch (prepared once) and costs far less CPU to
 *   send than a multi-row VALUES list (bench/bench.ts, "eth_stats"). When some of its rows
 *   are stored already (a retry, a replay), that statement fails whole on the unique `msg_id`
 *   and the batch is written again with `on conflict (msg_id) do nothing` (counted in
 *   `batches_rewritten`). A failed write throws; the pipeline retries the whole batch and
 *   every row is stored exactly once.
 * - A malformed statistics body is skipped, counted (`skipped_malformed`) and warned about
 *   with its agent id; it never fails the batch. Whatever passes validation must be
 *   insertable (column ranges, no NUL in text), or one bad report would block the queue.
 * - `date` is the time the service accepted the report, sent as a UTC ISO string without a
 *   type: Postgres reads it as `timestamp` and ignores the zone, so the stored value is UTC
 *   whatever the session TimeZone (a JS Date would go through timestamptz and shift).
 */
import postgres from "postgres";
import { z } from "zod";
import { describeZodError } from "../http/validation.ts";
import { type Message, payloadBody, payloadType } from "../core/message.ts";
import type { Receiver } from "../core/receiver.ts";
import { BoundedMap } from "../core/bounded_map.ts";
import { nextTurn } from "../core/delivery_policy.ts";
import { createIsoClock } from "../core/iso_time.ts";
import { createTablePruner } from "./stats_retention.ts";

const DAY_MS = 86_400_000;

/** Skipped reports are logged once per this long (counted in `skipped_malformed` all the same). */
const SKIP_LOG_EVERY_MS = 10_000;

/**
 * Options common to the statistics receivers: the table (created like the base table if
 * missing), and how long its rows are kept (receivers/stats_retention.ts; absent: for good).
 */
export function tableOptionsSchema(baseTable: string) {
  return z.object({
    table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase SQL identifier")
      .default(baseTable),
    retentionDays: z.number().positive().max(36_500).optional(),
    pruneIntervalMs: z.int().min(1_000).max(DAY_MS).default(600_000),
    /** A write not answered this long is retried, on new connections (the receiver's pool is ended). */
    writeTimeoutMs: z.int().min(100).max(DAY_MS).default(30_000),
  }).strict();
}

/** Options of a statistics receiver, after defaults. */
export interface StatsTableOptions {
  table: string;
  retentionDays?: number;
  pruneIntervalMs?: number;
  writeTimeoutMs?: number;
}

/** What a statistics receiver type defines: its table, columns and body → columns mapping. */
export interface StatsTableSpec<B extends z.ZodType, C extends string> {
  /** The table created by the migrations; `options.table` is created like it when different. */
  baseTable: string;
  /** What the warnings call a message, e.g. "ethereum statistics". */
  what: string;
  /** Validates a statistics body. */
  body: B;
  /** The columns besides `date`, `agent_id` and `msg_id`, from a valid body. */
  columns(body: z.infer<B>): Record<C, string | number | boolean | null>;
}

/** Wall time spent turning a batch's messages into rows before the event loop gets a turn (ms). */
const ROW_SLICE_MS = 1;

/**
 * Rows per insert: postgres.js serializes a batch's arrays in one go (2–4 ms for 500 rows), and
 * the requests waiting meanwhile set the HTTP p99 (BENCHMARKS.md, item 17).
 */
const MAX_BATCH = 200;

/** Ids of skipped messages remembered so a retried batch does not count them again. */
const SKIPPED_REMEMBERED = 10_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type Row = Record<string, string | number | boolean | null>;

/**
 * Connections of a receiver's own pool: its one write at a time, and the pruner. Its own (with
 * the shared pool's settings), so that it can end them when a call hangs (`abandoned`).
 */
const POOL_MAX = 2;

/** The connection, the table's column types, and the insert statements made so far. */
interface Writer {
  sql: postgres.Sql;
  types: Map<string, string>;
  statements: Map<string, Statement>;
}

/** A batch's insert, and the same skipping rows stored already. */
interface Statement {
  insert: string;
  insertNew: string;
}

/** Builds a durable receiver writing the `statistics` messages it gets into `options.table`. */
export function createStatsTableReceiver<B extends z.ZodType, C extends string>(
  id: string,
  options: StatsTableOptions,
  context: { postgres(): Promise<postgres.Sql> },
  spec: StatsTableSpec<B, C>,
): Receiver {
  const table = options.table;
  const counters = { rows_written: 0, skipped_malformed: 0, batches_rewritten: 0 };
  const recentlySkipped = new BoundedMap<string, true>(SKIPPED_REMEMBERED);
  const isoTime = createIsoClock();
  /** Its own connections: a half-open one never gives its query back, and only ending it does. */
  let pool: postgres.Sql | undefined;
  /** Closed: an init still waiting for the shared pool opens no pool of its own after all. */
  let closed = false;
  let ready: Promise<Writer> | undefined;
  const pruner = options.retentionDays === undefined ? undefined : createTablePruner(
    async () => (await prepare()).sql,
    {
      table,
      keepMs: options.retentionDays * DAY_MS,
      intervalMs: options.pruneIntervalMs ?? 600_000,
      name: `receiver ${id}`,
    },
  );

  function prepare(): Promise<Writer> {
    // Memoised on success only: a failed (or abandoned) init is retried by the next call.
    if (ready === undefined) {
      const attempt: Promise<Writer> = init().catch((err) => {
        if (ready === attempt) ready = undefined;
        throw err;
      });
      ready = attempt;
    }
    return ready;
  }

  async function init(): Promise<Writer> {
    const shared = await context.postgres();
    if (closed) throw new Error(`receiver ${id} is closed`);
    // postgres.js takes parsed options as they are: the shared pool's settings, fewer connections,
    // and state of its own (`shared` holds the reconnect count that paces the shared pool's backoff).
    const own = { ...shared.options, max: POOL_MAX, shared: { retries: 0, typeArrayMap: {} } };
    const sql = pool ??= postgres(own as unknown as postgres.Options<never>);
    if (table !== spec.baseTable) {
      await sql`create table if not exists ${sql(table)} (like ${sql(spec.baseTable)} including all)`;
    }
    await sql`select msg_id from ${sql(table)} limit 0`; // a clear error now, not on every batch
    const types = new Map<string, string>();
    for (
      const column of await sql<Array<{ name: string; type: string }>>`
      select attname as name, format_type(atttypid, atttypmod) as type from pg_attribute
      where attrelid = to_regclass(${table}) and attnum > 0 and not attisdropped`
    ) {
      types.set(column.name, column.type);
    }
    return { sql, types, statements: new Map() };
  }

  /**
   * The insert of a batch with these columns: `insert … select * from unnest($1::type[], …)`,
   * each column's array cast to the table's own column type.
   */
  function statementOf(writer: Writer, columns: string[]): Statement {
    const key = columns.join(",");
    let statement = writer.statements.get(key);
    if (statement === undefined) {
      const arrays = columns.map((column, i) => {
        const type = writer.types.get(column);
        if (type === undefined) throw new Error(`table ${table} has no column ${column}`);
        return `$${i + 1}::${type}[]`;
      });
      // Column names are the spec's and the table's passed its identifier check: quoting is enough.
      const insert = `insert into "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) ` +
        `select * from unnest(${arrays.join(", ")})`;
      statement = { insert, insertNew: `${insert} on conflict (msg_id) do nothing` };
      writer.statements.set(key, statement);
    }
    return statement;
  }

  let lastSkipLog = -Infinity;
  let skipsNotLogged = 0;
  function skip(message: Message, why: string): undefined {
    // A batch is retried whole after a failed write: count and warn once per message.
    if (recentlySkipped.has(message.id)) return undefined;
    recentlySkipped.set(message.id, true);
    counters.skipped_malformed++;
    // One line per 10 s at most: an agent sending malformed reports must not flood the log.
    const t = Date.now();
    if (t - lastSkipLog < SKIP_LOG_EVERY_MS) {
      skipsNotLogged++;
      return undefined;
    }
    lastSkipLog = t;
    const more = skipsNotLogged > 0 ? ` (and ${skipsNotLogged} more since the last such line)` : "";
    skipsNotLogged = 0;
    console.warn(
      `receiver ${id}: skipped ${spec.what} from agent ${JSON.stringify(message.agentId)} ` +
        `(message ${message.id}): ${why}${more}`,
    );
    return undefined;
  }

  function toRow(message: Message, msgId: string): Row | undefined {
    const body = payloadBody(message);
    if (!body) return skip(message, "body is not an object");
    const parsed = spec.body.safeParse(body);
    if (!parsed.success) return skip(message, describeZodError(parsed.error));
    const date = isoTime(message.receivedAt);
    if (date === null) return skip(message, `receivedAt ${message.receivedAt} is not a valid time`);
    const row: Row = {
      date,
      agent_id: message.agentId,
      ...spec.columns(parsed.data),
      msg_id: msgId,
    };
    for (const column in row) {
      const value = row[column];
      if (typeof value === "string" && value.includes("\0")) {
        return skip(message, `${column} contains a NUL character`);
      }
    }
    return row;
  }

  return {
    id,
    durable: true,
    maxBatch: MAX_BATCH,
    callTimeoutMs: options.writeTimeoutMs ?? 30_000,
    async init() {
      await prepare();
      pruner?.start();
    },
    accepts: (message) => payloadType(message) === "statistics",
    async receive(batch) {
      const rows: Row[] = [];
      let slice = performance.now();
      let made = 0;
      for (const message of batch) {
        if (payloadType(message) !== "statistics") continue;
        // A UUID id (the routes make them so) is the msg_id as it is, without a promise per row.
        const row = toRow(
          message,
          UUID.test(message.id) ? message.id.toLowerCase() : await derivedMsgId(message.id),
        );
        if (row) rows.push(row);
        // Validating a batch takes milliseconds: requests and pings are answered between slices
        // (the clock is read every 16 rows: a read costs about a fifth of a row).
        if ((++made & 15) === 0 && performance.now() - slice >= ROW_SLICE_MS) {
          await nextTurn();
          slice = performance.now();
        }
      }
      if (rows.length === 0) return;
      const writer = await prepare();
      const columns = Object.keys(rows[0]!);
      const statement = statementOf(writer, columns);
      // One array per column: the statement's text is the same for every batch (prepared once),
      // each array sent as its literal, which the statement's cast to the column type reads.
      const arrays = columns.map((column) => arrayLiteral(rows, column));
      let result;
      try {
        // A first delivery meets no row of its own: the plain insert spares Postgres the
        // conflict check `on conflict` makes on every row (one more index lookup each).
        result = await writer.sql.unsafe(statement.insert, arrays, { prepare: true });
      } catch (err) {
        if (!isUniqueViolation(err)) throw err;
        // Some rows are there already (a retry after a lost answer, a replay, a redelivery):
        // the failed statement wrote nothing; this one writes the others.
        counters.batches_rewritten++;
        result = await writer.sql.unsafe(statement.insertNew, arrays, { prepare: true });
      }
      counters.rows_written += result.count;
    },
    abandoned() {
      // The call given up on waits on a connection that may never answer (half-open: a failover,
      // a stuck proxy), and the next ones would queue behind it: the pool is ended (its queries
      // fail at once) and the retry opens new connections.
      const old = pool;
      pool = undefined;
      ready = undefined;
      old?.end({ timeout: 0 }).catch(() => {});
    },
    async close() {
      await pruner?.stop();
      closed = true;
      await pool?.end({ timeout: 5 });
    },
    stats: () => ({ ...counters, ...pruner?.stats() }),
  };
}

const ARRAY_ESCAPED = /["\\]/;

/**
 * A column of rows as a Postgres array literal: each value quoted (`\` and `"` escaped), null as
 * `null`, the text postgres.js makes of an array parameter, made here in one pass: its serializer
 * runs two regular expressions and a callback per value and turns every ISO date into a Date and
 * back (bench pg section: the receiver's CPU per row 5.4–5.9 µs with this, 5.8–6.6 before).
 */
export function arrayLiteral(rows: Row[], column: string): string {
  let literal = "{";
  for (let i = 0; i < rows.length; i++) {
    const value = rows[i]![column];
    if (i > 0) literal += ",";
    if (value === null) {
      literal += "null";
      continue;
    }
    // A number or boolean has no quote or backslash to escape.
    if (typeof value !== "string") literal += `"${value}"`;
    else literal += ARRAY_ESCAPED.test(value) ? `"${value.replace(/[\\"]/g, "\\$&")}"` : `"${value}"`;
  }
  return literal + "}";
}

/** A Postgres unique_violation (SQLSTATE 23505). */
function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "23505";
}

/**
 * The `msg_id` of a message whose id is not a UUID: a UUID derived from it (SHA-256,
 * version 8), so any id is stored and a retry still matches.
 */
async function derivedMsgId(id: string): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(id)));
  hash[6] = (hash[6]! & 0x0f) | 0x80;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = Array.from(hash.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
