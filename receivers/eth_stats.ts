/**
 * The `eth_stats` receiver (original `POABackend.Receivers.EthStats`): `statistics` messages
 * of `ethereum_metrics` become rows of Postgres table `eth_stats`.
 *
 * Body validation (a body that fails is skipped and counted, never fails the batch):
 * - `active`, `mining`: booleans; `peers`: an integer in int range.
 * - `hashrate`: a non-negative integer; `gasPrice`: a non-negative integer or null (null is
 *   what the inactive-agent statistics carry). Both must be JSON numbers: decimal strings are
 *   NOT accepted (the original agent sends numbers; the README lists strings for numbers
 *   as malformed). Past 2^53 they are stored as exact as JSON and MessagePack decoding left them,
 *   and past the bigint column's range as its largest value: the POA agent packs gas prices
 *   as uint64, and Nethermind's gas price is a long (2^63-1 decodes as 2^63): the original stored
 *   them, and they were skipped here.
 * - `syncing`: an object → its `currentBlock`, `highestBlock`, `startingBlock` (strings such as
 *   "0x44ee0"; missing or null → null, like the original's `Map.get`; other keys ignored);
 *   anything else (`false`, null, `true`, missing) → the three block columns are null.
 * - `uptime` and unknown keys are ignored (the original did not store them either).
 */
import { z } from "zod";
import { createStatsTableReceiver, tableOptionsSchema } from "./stats_table.ts";
import type { ReceiverType } from "../core/receiver.ts";

const options = tableOptionsSchema("eth_stats");

/**
 * `syncing` block numbers as the client sent them: the original agent's hex strings, or numbers
 * (ethstats nodes), stored as text. A NUL (which Postgres text cannot hold) makes the body invalid:
 * skipped and counted, never retried forever.
 */
const block = z.union([
  z.string().max(100).refine((s) => !s.includes("\u0000"), "must not contain NUL"),
  z.number().int().nonnegative().transform(String),
]).nullable().optional();

/** The bigint columns' largest value. */
const BIGINT_MAX = 2n ** 63n - 1n;

/** A non-negative whole number for a bigint column: as it is when safe, else decimal text, at most BIGINT_MAX. */
const bigintColumn = z.number().nonnegative().refine(Number.isInteger, "must be an integer").transform(
  (n) => {
    if (Number.isSafeInteger(n)) return n;
    const big = BigInt(n);
    return (big > BIGINT_MAX ? BIGINT_MAX : big).toString();
  },
);

const body = z.object({
  active: z.boolean(),
  mining: z.boolean(),
  hashrate: bigintColumn,
  peers: z.int().min(0).max(2_147_483_647),
  gasPrice: bigintColumn.nullable(),
  // DESIGN: "the three block columns come from `syncing` when it is an object, else null": `true`
  // (Besu in sync, geth with peers 0) or no `syncing` at all lost the whole row.
  syncing: z.preprocess(
    (v) => v !== null && typeof v === "object" && !Array.isArray(v) ? v : null,
    z.object({ currentBlock: block, highestBlock: block, startingBlock: block }).nullable(),
  ),
});

/** The `eth_stats` receiver type: ethereum `statistics` → rows of `eth_stats`. */
export const ethStatsReceiverType: ReceiverType<typeof options> = {
  needsPostgres: () => true,
  options,
  create: (opts, context) =>
    createStatsTableReceiver(context.config.id, opts, context, {
      baseTable: "eth_stats",
      what: "ethereum statistics",
      body,
      columns: (b) => {
        const syncing = b.syncing ?? undefined;
        return {
          active: b.active,
          mining: b.mining,
          hashrate: b.hashrate,
          peers: b.peers,
          gas_price: b.gasPrice,
          current_block: syncing?.currentBlock ?? null,
          highest_block: syncing?.highestBlock ?? null,
          starting_block: syncing?.startingBlock ?? null,
        };
      },
    }),
};
