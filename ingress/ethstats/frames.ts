/**
 * Frames of the ethstats protocol as real clients send them, read into the bodies the
 * original POA agent sends on `/data` (`DESIGN.md`, Protocol API), so receivers see one shape:
 *
 * - numbers may come as JSON numbers, decimal strings (web3 0.x: `gasPrice`, geth:
 *   `latency`, `difficulty`) or hex strings (Besu: every block quantity); integers become
 *   numbers when they are safe integers, else decimal strings; `difficulty` and
 *   `totalDifficulty` are always decimal strings (as the original agent sent them);
 * - `transactions` come as hash strings (web3), `{hash}` (geth, Nethermind) or full objects
 *   (Besu) and become hash strings;
 * - a `history` reply keeps its valid blocks and skips the rest (geth sends `null` for a
 *   block it cannot assemble);
 * - unknown keys are kept in blocks and `information`, dropped elsewhere, never refused.
 *
 * Primus control strings (`"primus::ping::<ms>"`, pongs, `primus::id::`) and JSON that is not
 * an emit (primus-spark-latency's `{"_latency": N}`) are recognised, not malformed.
 */
import { z } from "zod";
import {
  BYTES_PER_CONTAINER,
  MAX_CONTAINERS,
  MAX_DEPTH,
  MAX_KEY_NAMES,
  parseJson,
  TOO_DEEP,
  TOO_MANY,
} from "../../http/body_shape.ts";
import { agentIdSchema } from "../../core/message.ts";
import { canonicalBlock, isUncles, MAX_UNCLES, transactionHashes } from "./canonical.ts";

/** A decoded text frame. */
export type Frame =
  | { kind: "emit"; name: string; payload: unknown }
  /** A Primus heartbeat from the client: send `reply` back. */
  | { kind: "ping"; reply: string }
  /** Understood and needs nothing: a pong, a Primus control string, `{"_latency": N}`. */
  | { kind: "control" }
  | { kind: "unusable"; message: string };

const PRIMUS = "primus::";
const PRIMUS_PING = "primus::ping::";
/**
 * A Primus heartbeat is `primus::ping::<Date.now()>`; only such short ones are answered (a pong
 * echoes the ping: a long one would make the server send back what it was sent).
 */
const MAX_PING_LENGTH = 64;

/** Reads one text frame (geth ends its frames with a newline; JSON.parse allows it). */
export function decodeFrame(text: string): Frame {
  let frame: unknown;
  try {
    frame = parseJson(text);
  } catch {
    // Primus' JSON parser quotes its control strings; an unquoted one is still understood.
    if (text.startsWith(PRIMUS_PING)) return ping(text.trimEnd());
    if (text.startsWith(PRIMUS)) return { kind: "control" };
    return { kind: "unusable", message: "frames must be JSON" };
  }
  if (frame === TOO_DEEP) {
    return { kind: "unusable", message: `frames must not nest deeper than ${MAX_DEPTH} levels` };
  }
  if (frame === TOO_MANY) {
    return {
      kind: "unusable",
      message:
        `frames hold at most ${MAX_CONTAINERS} objects and arrays and as many keys (or one per ${BYTES_PER_CONTAINER} ` +
        `bytes), of at most ${MAX_KEY_NAMES} different names`,
    };
  }
  if (typeof frame === "string") {
    if (frame.startsWith(PRIMUS_PING)) return ping(frame);
    if (frame.startsWith(PRIMUS)) return { kind: "control" };
    return { kind: "unusable", message: 'frames must be {"emit": [name, payload]}' };
  }
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) {
    return { kind: "unusable", message: 'frames must be {"emit": [name, payload]}' };
  }
  const emitted = (frame as Record<string, unknown>)["emit"];
  if (emitted === undefined) return { kind: "control" }; // {"_latency": N} and other plugin frames
  if (!Array.isArray(emitted) || typeof emitted[0] !== "string") {
    return { kind: "unusable", message: 'frames must be {"emit": [name, payload]}' };
  }
  return { kind: "emit", name: emitted[0], payload: emitted[1] };
}

function ping(text: string): Frame {
  if (text.length > MAX_PING_LENGTH) {
    return { kind: "unusable", message: `Primus pings are at most ${MAX_PING_LENGTH} characters` };
  }
  return { kind: "ping", reply: JSON.stringify("primus::pong::" + text.slice(PRIMUS_PING.length)) };
}

/** A Primus heartbeat from the server, as Primus' JSON parser encodes it. */
export function primusPing(now: number): string {
  return JSON.stringify(PRIMUS_PING + now);
}

/** Tells a Primus client to stop: it ends without reconnecting (geth and others just see a close). */
export const PRIMUS_SERVER_CLOSE = JSON.stringify("primus::server::close");

// ---- values ----

const DECIMAL = /^[0-9]{1,78}$/;
const HEX = /^0x[0-9a-fA-F]{1,64}$/;

/** A non-negative integer as a number when it is a safe integer, else as a decimal string. */
function integerValue(value: number | string): number | string {
  if (Number.isSafeInteger(value)) return value;
  const n = BigInt(value); // decimal or 0x-hex, or a JSON number past 2^53 (as JSON.parse read it)
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/**
 * A whole JSON number, past 2^53 too (zod's int() stops there): a gas price of 2^63-1 (a long's
 * largest, as a Nethermind node may send it) refused the whole stats frame.
 */
const wholeNumber = z.number().nonnegative().refine(Number.isInteger, "must be an integer");

/** A non-negative integer quantity: a JSON number, or a decimal or hex string. */
const integer = z.union([wholeNumber, z.string().regex(DECIMAL), z.string().regex(HEX)]).transform(
  integerValue,
);

/** A big quantity (difficulty): always a decimal string. */
const bigDecimal = z.union([wholeNumber, z.string().regex(DECIMAL), z.string().regex(HEX)])
  .transform((value) => BigInt(value).toString());

/** A non-negative number that may come as a decimal string (`latency`, `uptime`). */
const decimal = z.union([
  z.number().nonnegative(),
  z.string().regex(/^[0-9]{1,15}(\.[0-9]{1,9})?$/).transform(Number),
]);

const nodeId = agentIdSchema;
const scalar = z.union([z.string().max(1024), z.number()]);
const hash = z.string().max(256);

/** A block number as a safe integer, or null (numbers beyond 2^53 are kept, not used). */
export function safeBlockNumber(value: number | string): number | null {
  return typeof value === "number" ? value : null;
}

// ---- payloads ----

/**
 * A field of `info`: a string, a number or null, as sent; any other value is dropped, never the
 * hello (eth-netstats takes any `info`). eth-net-intelligence-api sends `"protocol": null, "api":
 * null` when its node has no `eth_protocolVersion` (go-ethereum 1.10-1.13): it was refused for good.
 */
const infoField = z.union([scalar, z.null()]).optional().catch(undefined);

const infoSchema = z.looseObject({
  name: infoField,
  node: infoField,
  port: infoField,
  net: infoField,
  protocol: infoField,
  api: infoField,
  os: infoField,
  os_v: infoField,
  client: infoField,
  canUpdateHistory: z.boolean().optional().catch(undefined),
}).transform((info) => {
  for (const key of Object.keys(info)) if (info[key] === undefined) delete info[key];
  // Nethermind's serializer writes its `Os_V` property as "os_V" (Nethermind.EthStats
  // Messages/Models/Info.cs, camelCase policy), filled with the OS architecture ("X64", as geth's
  // os_v is "amd64"): the field every other client sends as os_v.
  return info.os_v === undefined && scalar.safeParse(info["os_V"]).success
    ? { ...info, os_v: info["os_V"] as string }
    : info;
});

export const helloPayload = z.object({
  id: nodeId,
  info: infoSchema.default({}),
  secret: z.string().max(2048),
});
export type Hello = z.infer<typeof helloPayload>;

/** An array, as it is (no copy, no pass over its entries). */
const array = z.custom<unknown[]>(Array.isArray, { error: "must be an array" });

/** Transactions as hashes, checked in one pass that stops at the first bad one (canonical.ts). */
const transactions = array.transform((list, ctx) => {
  const hashes = transactionHashes(list);
  if (hashes !== undefined) return hashes;
  ctx.addIssue({ code: "custom", message: "each transaction must be a hash or an object with a hash" });
  return z.NEVER;
});

const blockSchema = z.looseObject({
  number: integer,
  hash,
  parentHash: hash.optional(),
  timestamp: integer.optional(),
  miner: hash.optional(),
  gasUsed: integer.optional(),
  gasLimit: integer.optional(),
  size: integer.optional(),
  difficulty: bigDecimal.optional(),
  totalDifficulty: bigDecimal.nullable().optional(),
  transactions: transactions.optional(),
  transactionsRoot: hash.optional(),
  stateRoot: hash.optional(),
  uncles: z.custom<unknown[]>(isUncles, { error: `must be an array of at most ${MAX_UNCLES}` }).optional(),
});
export type Block = z.infer<typeof blockSchema>;

const syncingObject = z.looseObject({
  currentBlock: integer.nullable().optional(),
  highestBlock: integer.nullable().optional(),
  startingBlock: integer.nullable().optional(),
});

export const nodePingPayload = z.object({ clientTime: z.union([z.string().max(256), z.number()]) });
export const latencyPayload = z.object({ latency: decimal });
export const blockPayload = z.object({ block: blockSchema });
export const pendingPayload = z.object({ stats: z.object({ pending: integer }) });
export const statsPayload = z.object({
  stats: z.object({
    active: z.boolean(),
    syncing: z.union([z.boolean(), syncingObject]),
    // Dropped by go-ethereum after the merge; the original agent always sent them.
    mining: z.boolean().default(false),
    // A number as sent (decimal first: a JSON number past 2^53 stays a number, as it always was).
    hashrate: z.union([decimal, integer]).default(0),
    peers: integer,
    gasPrice: integer.nullable().default(null),
    uptime: decimal.nullable().default(null),
  }),
});
/**
 * The original agent's `statistics` body from a node's `stats`. go-ethereum only says whether it
 * syncs; the original agent sent eth_syncing's object, so `true` becomes one with the node's
 * head block (`headBlock`, from its block reports) as the current block.
 */
export function statisticsBody(
  stats: z.output<typeof statsPayload>["stats"],
  headBlock: number | null,
): Record<string, unknown> {
  const s = stats.syncing;
  const syncing = s === false
    ? false
    : s === true
    ? { currentBlock: headBlock, highestBlock: null, startingBlock: null }
    : {
      currentBlock: s.currentBlock ?? null,
      highestBlock: s.highestBlock ?? null,
      startingBlock: s.startingBlock ?? null,
    };
  return {
    active: stats.active,
    mining: stats.mining,
    hashrate: asNumber(stats.hashrate),
    peers: asNumber(stats.peers),
    gasPrice: stats.gasPrice === null ? null : asNumber(stats.gasPrice),
    syncing,
    uptime: stats.uptime,
  };
}

/** A quantity as the original agent's JSON carried it: a number (past 2^53 as JSON.parse reads it). */
function asNumber(value: number | string): number {
  return typeof value === "number" ? value : Number(value);
}

export const historyPayload = z.object({ history: array });

/**
 * Entries of one history answer read (go-ethereum sends at most 50, the POA agent 41); the rest
 * are skipped unread: a frame of millions of entries cost a block parse each (6 s of the event
 * loop for 3.9 M zeros, none asked for).
 */
export const MAX_HISTORY_ENTRIES = 256;
export const newPayloadPayload = z.object({
  block: z.looseObject({ number: integer, hash, processingTime: z.number().nonnegative() }),
});

/** The valid blocks of a history reply, in order, and how many entries were skipped. */
export function historyBlocks(entries: unknown[]): { blocks: Block[]; skipped: number } {
  const blocks: Block[] = [];
  for (
    const entry of entries.length > MAX_HISTORY_ENTRIES ? entries.slice(0, MAX_HISTORY_ENTRIES) : entries
  ) {
    const fast = canonicalBlock(entry);
    if (fast !== undefined) {
      blocks.push(fast);
      continue;
    }
    const parsed = blockSchema.safeParse(entry);
    if (parsed.success) blocks.push(parsed.data);
  }
  return { blocks, skipped: entries.length - blocks.length };
}

const HISTORY_ANSWER = /^\s*\{\s*"emit"\s*:\s*\[\s*"history"/;

/**
 * Whether a frame (too large to decode) is a history answer: `{"emit":["history",…`, as
 * go-ethereum, Nethermind, Besu and Primus agents write it. Only that makes its node be asked fewer
 * blocks at a time (history.ts `unanswerable`); an oversized block while it was asked had too.
 */
export function isHistoryAnswer(data: unknown): boolean {
  return typeof data === "string" && HISTORY_ANSWER.test(data.slice(0, 64));
}
