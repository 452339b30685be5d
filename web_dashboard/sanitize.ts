/**
 * What the web dashboard keeps of a report: the known fields only, each a scalar, strings bounded,
 * so that no report can grow the state (web_dashboard/state.ts).
 */
import { cutString } from "./block_ring.ts";

/** A JSON value as kept from an agent report: primitives only, strings bounded. */
export type Scalar = string | number | boolean | null;

/** Ethereum statistics as kept; `syncing` is false, null or `{currentBlock, highestBlock, startingBlock}`. */
export type SanitizedStatistics = Record<string, Scalar | Record<string, Scalar>>;

/** The fields kept of each report. */
export const INFORMATION_KEYS = [
  "name",
  "contact",
  "coinbase",
  "node",
  "net",
  "protocol",
  "api",
  "port",
  "os",
  "os_v",
  "client",
  "canUpdateHistory",
];
const STATISTICS_KEYS = ["active", "mining", "hashrate", "peers", "gasPrice", "uptime"];
const SYNCING_KEYS = ["currentBlock", "highestBlock", "startingBlock"];
const BLOCK_KEYS = [
  "number",
  "hash",
  "parentHash",
  "timestamp",
  "miner",
  "gasUsed",
  "gasLimit",
  "difficulty",
  "totalDifficulty",
  "size",
];
export const SYSTEM_KEYS = ["cpu_load", "memory_usage", "disk_usage"];

/** A scalar as kept (a string cut by cutString), or undefined for anything else. */
function scalar(value: unknown): Scalar | undefined {
  if (value === null || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value === "string") return cutString(value);
  return undefined;
}

/** Keeps the listed keys whose values are scalars: a report can never grow the state. */
export function pick(body: Record<string, unknown>, keys: readonly string[]): Record<string, Scalar> {
  const out: Record<string, Scalar> = {};
  for (const key of keys) {
    const value = scalar(body[key]);
    if (value !== undefined) out[key] = value;
  }
  return out;
}

/** Statistics reduced to their known fields; `syncing` kept as false, null, true or its three block numbers. */
export function sanitizeStatistics(body: Record<string, unknown>): SanitizedStatistics {
  const out: SanitizedStatistics = pick(body, STATISTICS_KEYS);
  const syncing = body["syncing"];
  if (syncing !== null && typeof syncing === "object" && !Array.isArray(syncing)) {
    out["syncing"] = pick(syncing as Record<string, unknown>, SYNCING_KEYS);
  } else if (syncing === false || syncing === null || syncing === true) {
    out["syncing"] = syncing;
  }
  return out;
}

/** A block without its transactions and uncles, which are counted instead. */
export function sanitizeBlock(body: Record<string, unknown>): Record<string, Scalar> {
  const out = pick(body, BLOCK_KEYS);
  const transactions = body["transactions"];
  if (Array.isArray(transactions)) out["transactionCount"] = transactions.length;
  const uncles = body["uncles"];
  if (Array.isArray(uncles)) out["uncleCount"] = uncles.length;
  return out;
}
