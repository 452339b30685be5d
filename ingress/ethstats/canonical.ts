/**
 * Fast paths for the payloads a node sends all the time (block, stats, pending, latency,
 * node-ping). Each returns exactly what the payload's schema in `frames.ts` would return, built
 * directly, when the input is already in the form the schema produces (numbers as numbers,
 * transactions as hashes or `{hash}`, as go-ethereum sends them), and `undefined` for anything
 * else: the caller then runs the schema, which converts or refuses it. Validating every frame
 * with zod cost a quarter of the service's CPU at 100 flooding nodes (BENCHMARKS.md).
 *
 * `canonical_test.ts` checks them against the schemas on real clients' frames and on generated
 * input (the fast path either agrees with the schema or stands aside).
 */
type Raw = Record<string, unknown>;

function record(value: unknown): Raw | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? value as Raw : undefined;
}

/** A non-negative safe integer (the schemas' `integer` keeps those as they are). */
function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function isHash(value: unknown): value is string {
  return typeof value === "string" && value.length <= 256;
}

/** A decimal string the schemas' `bigDecimal` gives back unchanged (no sign, no leading zero). */
const CANONICAL_DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
/** The schemas' `decimal` strings (`latency` as geth sends it). */
const DECIMAL_NUMBER = /^[0-9]{1,15}(\.[0-9]{1,9})?$/;

const OPTIONAL_HASHES = ["parentHash", "miner", "transactionsRoot", "stateRoot"] as const;
const OPTIONAL_COUNTS = ["timestamp", "gasUsed", "gasLimit", "size"] as const;

/** A block as blockSchema gives it, when it came with every quantity a number. */
export interface CanonicalBlock {
  number: number;
  hash: string;
  transactions?: string[];
  [key: string]: unknown;
}

/** A block (`frames.ts` blockSchema): all keys kept, transactions as hash strings. */
export function canonicalBlock(value: unknown): CanonicalBlock | undefined {
  const raw = record(value);
  if (raw === undefined || !isCount(raw["number"]) || !isHash(raw["hash"])) return undefined;
  for (const key of OPTIONAL_HASHES) if (key in raw && !isHash(raw[key])) return undefined;
  for (const key of OPTIONAL_COUNTS) if (key in raw && !isCount(raw[key])) return undefined;
  if (
    "difficulty" in raw &&
    !(typeof raw["difficulty"] === "string" && CANONICAL_DECIMAL.test(raw["difficulty"]))
  ) {
    return undefined;
  }
  const total = raw["totalDifficulty"];
  if (
    "totalDifficulty" in raw && total !== null &&
    !(typeof total === "string" && CANONICAL_DECIMAL.test(total))
  ) {
    return undefined;
  }
  if ("uncles" in raw && !isUncles(raw["uncles"])) return undefined;
  const block = { ...raw } as CanonicalBlock;
  if ("transactions" in raw) {
    const list = raw["transactions"];
    const hashes = Array.isArray(list) ? transactionHashes(list) : undefined;
    if (hashes === undefined) return undefined;
    block.transactions = hashes;
  }
  return block;
}

/**
 * Uncles a block may list: Ethereum allows two (`MAX_UNCLES` leaves room for other chains); more is
 * not a block, and would be published whole to every receiver (a frame of millions of zeros).
 */
export const MAX_UNCLES = 16;

/** A block's `uncles` as kept: an array of at most `MAX_UNCLES` (their contents are not read). */
export function isUncles(value: unknown): value is unknown[] {
  return Array.isArray(value) && value.length <= MAX_UNCLES;
}

/**
 * A block's transactions as hashes (web3 sends hash strings, geth `{hash}`, Besu full objects),
 * or undefined at the first one that is neither: one pass that stops there, for the fast path and
 * the schema alike (zod's array parse made an issue per bad entry: a 7.8 MB frame of zeros held
 * the event loop for 49 s and took the process to 4.6 GB).
 */
export function transactionHashes(list: unknown[]): string[] | undefined {
  const hashes = new Array<string>(list.length);
  for (let i = 0; i < list.length; i++) {
    const t = list[i];
    const h = isHash(t) ? t : record(t)?.["hash"];
    if (!isHash(h)) return undefined;
    hashes[i] = h;
  }
  return hashes;
}

/** `{block}` (blockPayload). */
export function canonicalBlockPayload(value: unknown): { block: CanonicalBlock } | undefined {
  const block = canonicalBlock(record(value)?.["block"]);
  return block === undefined ? undefined : { block };
}

/** The stats statsPayload gives: defaults filled in, unknown keys dropped. */
export interface CanonicalStats {
  active: boolean;
  syncing: boolean;
  mining: boolean;
  hashrate: number;
  peers: number;
  gasPrice: number | null;
  uptime: number | null;
}

/** `{stats}` (statsPayload) when `syncing` is a boolean and every number a JSON number. */
export function canonicalStatsPayload(value: unknown): { stats: CanonicalStats } | undefined {
  const s = record(record(value)?.["stats"]);
  if (s === undefined) return undefined;
  const { active, syncing, peers } = s;
  // Defaults for absent keys only: a null mining or hashrate is the schema's to refuse.
  const mining = s["mining"] === undefined ? false : s["mining"];
  const hashrate = s["hashrate"] === undefined ? 0 : s["hashrate"];
  const gasPrice = s["gasPrice"] ?? null;
  const uptime = s["uptime"] ?? null;
  if (typeof active !== "boolean" || typeof syncing !== "boolean" || typeof mining !== "boolean") {
    return undefined;
  }
  if (!isCount(peers) || !nonNegative(hashrate)) return undefined;
  if (gasPrice !== null && !isCount(gasPrice)) return undefined;
  if (uptime !== null && !nonNegative(uptime)) return undefined;
  return { stats: { active, syncing, mining, hashrate, peers, gasPrice, uptime } };
}

function nonNegative(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

/** `{stats: {pending}}` (pendingPayload). */
export function canonicalPendingPayload(value: unknown): { stats: { pending: number } } | undefined {
  const pending = record(record(value)?.["stats"])?.["pending"];
  return isCount(pending) ? { stats: { pending } } : undefined;
}

/** `{latency}` (latencyPayload): geth sends it as a decimal string. */
export function canonicalLatencyPayload(value: unknown): { latency: number } | undefined {
  const latency = record(value)?.["latency"];
  if (nonNegative(latency)) return { latency };
  return typeof latency === "string" && DECIMAL_NUMBER.test(latency)
    ? { latency: Number(latency) }
    : undefined;
}

/** `{clientTime}` (nodePingPayload). */
export function canonicalNodePingPayload(value: unknown): { clientTime: string | number } | undefined {
  const clientTime = record(value)?.["clientTime"];
  if (typeof clientTime === "string" ? clientTime.length <= 256 : Number.isFinite(clientTime)) {
    return { clientTime: clientTime as string | number };
  }
  return undefined;
}
