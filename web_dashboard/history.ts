/**
 * The web dashboard's read API over Postgres: query parameters (validated once, 422 otherwise)
 * and one typed function per query of the `eth_stats` and `system_stats` tables.
 */
import type postgres from "postgres";
import { z } from "zod";
import { parseOr422 } from "../http/validation.ts";
import { agentIdSchema } from "../core/message.ts";

/** The latest instant Postgres `timestamp` and JS both represent: 9999-12-31T23:59:59.999Z. */
const MAX_TIME_MS = 253_402_300_799_999;
/** ISO-8601 date or date-time; a date-time without a zone is UTC (the tables store UTC). */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Parses `from`/`to`: epoch milliseconds (digits) or ISO-8601; undefined when neither. */
export function parseTime(text: string): number | undefined {
  let ms: number;
  if (/^\d{1,15}$/.test(text)) {
    ms = Number(text);
  } else {
    const match = ISO_8601.exec(text);
    if (!match) return undefined;
    const hasTime = text.includes("T");
    // Date-only strings are UTC in JS already; date-times without a zone would be local.
    ms = Date.parse(hasTime && match[1] === undefined ? text + "Z" : text);
    if (Number.isNaN(ms)) return undefined;
    // Date.parse rolls 2024-02-31 over to March 2nd; a round trip of the date catches that.
    const day = text.slice(0, 10);
    if (new Date(Date.parse(day)).toISOString().slice(0, 10) !== day) return undefined;
  }
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_TIME_MS ? ms : undefined;
}

const time = z.string().transform((text, ctx) => {
  const ms = parseTime(text);
  if (ms === undefined) {
    ctx.addIssue({
      code: "custom",
      message: "must be an ISO-8601 time (2024-05-01T12:00:00Z) or epoch milliseconds, 1970 to 9999",
    });
    return z.NEVER;
  }
  return ms;
});

/** A positive integer query parameter between `min` and `max`. */
function integer(min: number, max: number) {
  return z.string().regex(/^\d{1,9}$/, `must be an integer from ${min} to ${max}`).transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
}

/** Every read API request may carry the dashboard secret as `?secret=` (curl, first page load). */
const secret = z.string().optional();

/** The range when `from` is not given: the hour up to `to`. */
export const DEFAULT_RANGE_MS = 3_600_000;

/** Query of `GET /v1/nodes/:id/{eth_stats,system_stats}`. */
export function historyQuerySchema(maxRangeMs: number) {
  return z.object({
    from: time.optional(),
    to: time.optional(),
    limit: integer(1, 1000).default(100),
    order: z.enum(["asc", "desc"]).default("asc"),
    secret,
  }).strict().transform((q, ctx) => {
    const to = q.to ?? (q.from !== undefined ? Math.max(Date.now(), q.from) : Date.now());
    const from = q.from ?? Math.max(0, to - DEFAULT_RANGE_MS);
    if (to < from) {
      ctx.addIssue({ code: "custom", path: ["to"], message: "must not be before from" });
      return z.NEVER;
    }
    if (to - from > maxRangeMs) {
      ctx.addIssue({
        code: "custom",
        path: ["from"],
        message: `the range from..to must not exceed ${maxRangeMs} ms (${formatDuration(maxRangeMs)})`,
      });
      return z.NEVER;
    }
    return { from, to, limit: q.limit, order: q.order };
  });
}

/** A validated history query. */
export type HistoryQuery = { from: number; to: number; limit: number; order: "asc" | "desc" };

/** Query of `GET /v1/blocks`. */
export function blocksQuerySchema(maxBlocks: number) {
  return z.object({ limit: integer(1, maxBlocks).default(Math.min(50, maxBlocks)), secret }).strict();
}

/** Query of `GET /v1/nodes`. */
export const nodesQuerySchema = z.object({
  limit: integer(1, 1000).default(1000),
  offset: integer(0, 1_000_000).default(0),
  secret,
}).strict();

/** Query of `GET /v1/nodes/:id`. */
export const secretOnlyQuerySchema = z.object({ secret }).strict();

/** Path parameter `:id`: an agent id as the protocol accepts it. */
export const nodeParams = z.object({ id: agentIdSchema });

/** Validates query parameters (or path parameters); failures are 422 `invalid_query`. */
export function parseQuery<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  return parseOr422(schema, value, "invalid_query");
}

function formatDuration(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1 ? `${+days.toFixed(2)} days` : `${+(ms / 3_600_000).toFixed(2)} hours`;
}

/** One `eth_stats` row as the API returns it. */
export interface EthStatsRow {
  date: string;
  active: boolean | null;
  mining: boolean | null;
  hashrate: number | null;
  peers: number | null;
  gas_price: number | null;
  current_block: string | null;
  highest_block: string | null;
  starting_block: string | null;
}

/** One `system_stats` row as the API returns it. */
export interface SystemStatsRow {
  date: string;
  cpu_load: number | null;
  memory_usage: number | null;
  disk_usage: number | null;
}

/** `timestamp` (UTC, no zone) as an ISO string, whatever the session TimeZone. */
function isoDate(sql: postgres.Sql) {
  return sql`to_char(date, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as date`;
}

/** A UTC instant as the text Postgres reads into `timestamp` unchanged (the zone is ignored). */
function timestampText(ms: number): string {
  return new Date(ms).toISOString();
}

function numberOrNull(value: unknown): number | null {
  // bigint columns arrive as strings; the receivers only write safe integers.
  return value === null || value === undefined ? null : Number(value);
}

/** A node's `eth_stats` rows in `[from, to]`, ordered by date. */
export async function queryEthStats(
  sql: postgres.Sql,
  table: string,
  agentId: string,
  query: HistoryQuery,
): Promise<EthStatsRow[]> {
  const rows = await sql`
    select ${isoDate(sql)}, active, mining, hashrate, peers, gas_price,
      current_block, highest_block, starting_block
    from ${sql(table)}
    where agent_id = ${agentId}
      and date >= ${timestampText(query.from)}::timestamp and date <= ${timestampText(query.to)}::timestamp
    order by date ${query.order === "desc" ? sql`desc` : sql`asc`}
    limit ${query.limit}`;
  return rows.map((r) => ({
    date: r.date,
    active: r.active,
    mining: r.mining,
    hashrate: numberOrNull(r.hashrate),
    peers: r.peers,
    gas_price: numberOrNull(r.gas_price),
    current_block: r.current_block,
    highest_block: r.highest_block,
    starting_block: r.starting_block,
  }));
}

/** A node's `system_stats` rows in `[from, to]`, ordered by date. */
export async function querySystemStats(
  sql: postgres.Sql,
  table: string,
  agentId: string,
  query: HistoryQuery,
): Promise<SystemStatsRow[]> {
  const rows = await sql`
    select ${isoDate(sql)}, cpu_load, memory_usage, disk_usage
    from ${sql(table)}
    where agent_id = ${agentId}
      and date >= ${timestampText(query.from)}::timestamp and date <= ${timestampText(query.to)}::timestamp
    order by date ${query.order === "desc" ? sql`desc` : sql`asc`}
    limit ${query.limit}`;
  return rows.map((r) => ({
    date: r.date,
    cpu_load: r.cpu_load,
    memory_usage: r.memory_usage,
    disk_usage: numberOrNull(r.disk_usage),
  }));
}
