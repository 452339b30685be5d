/**
 * The dashboard's recent blocks: one entry per block number, the highest `maxBlocks` numbers kept,
 * each with its propagation histogram; which were added (for the pages) and which changed (for
 * storage, web_dashboard/block_store.ts) since they last asked.
 *
 * The first hash reported at a number is kept until a block of another hash has a majority: more
 * than half of the active nodes whose head is at that height or above are on the new block's branch
 * (their head is it, or a kept block above descending from it by parent hashes), and more than half
 * as many as were ever on the kept block, or on one of the kept blocks above descending from it,
 * at once (their `peak`: the others may be away for a moment, a restart). A reorganisation the
 * nodes followed, a chain that restarted below the kept blocks, an honest block reported a moment
 * after a made-up one: the majority's block is kept. A node alone on a fork (nodes no more than
 * half of the peak), a gap in the kept blocks, or the other nodes restarting for a moment replace
 * nothing. The kept blocks above the replaced one that descend from it go too when they reach the
 * top of the ring (the dead branch's tip). Before, a reorganised or restarted chain's blocks stayed
 * for good.
 */

/** Longest string kept from a report (names, hashes, client versions). */
export const MAX_STRING = 256;

import { createBranchSupport, type HeadLookup, MAX_SUPPORT_WALK, NO_HEADS } from "./branch_support.ts";

/**
 * Upper bounds (ms) of the propagation histogram's bins; the last bin holds everything slower.
 * A node's propagation for a block is how long after the first report of that block (from any
 * node) the service got this node's: arrival times are the service's own clock, so clock skew
 * between nodes does not enter (network and agent delays do).
 */
export const PROPAGATION_BINS_MS = [100, 250, 500, 1000, 2000, 5000] as const;
/** The histogram bin of a delay. */
export function propagationBin(ms: number): number {
  const i = PROPAGATION_BINS_MS.findIndex((bound) => ms < bound);
  return i === -1 ? PROPAGATION_BINS_MS.length : i;
}

/** One block of the network, as first reported by any node. */
export interface BlockEntry {
  number: number;
  hash: string | null;
  parentHash: string | null;
  /** Block timestamp, seconds (as in the block header). */
  timestamp: number | null;
  miner: string | null;
  gasUsed: number | null;
  gasLimit: number | null;
  /** Block difficulty; approximate above 2^53 (mainnet's PoW values), for tiles and charts. */
  difficulty: number | null;
  transactionCount: number | null;
  uncleCount: number | null;
  /** When the first report of it was accepted, epoch ms. */
  firstSeen: number;
  /** The node that reported it first. */
  firstSeenBy: string;
  /** How many reports of it (this hash) arrived (a node's repeats and history replies included). */
  reports: number;
  /** Nodes whose first report of it fell in each PROPAGATION_BINS_MS bin (one more for slower). */
  propagation: number[];
  /**
   * The most active nodes whose head it was at once: the bar another hash at its number must pass
   * half of (module comment). Not a count of reports: a node cycling through blocks raised that
   * without bound.
   */
  peak: number;
}

/**
 * A non-negative number from a number, a decimal string or a 0x hex string, approximate beyond
 * 2^53 (difficulties); null for anything else.
 */
export function toApproxNumber(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : null;
  if (typeof value === "string" && /^(0x[0-9a-f]{1,64}|[0-9]{1,78})$/i.test(value)) return Number(value);
  return null;
}

/** A non-negative safe integer from a number, a decimal string or a 0x hex string. */
export function toSafeInteger(value: unknown): number | null {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && /^0x[0-9a-f]{1,14}$/i.test(value)) n = parseInt(value.slice(2), 16);
  else if (typeof value === "string" && /^[0-9]{1,16}$/.test(value)) n = Number(value);
  else return null;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** A string cut to MAX_STRING, or null for anything else. */
export function stringOrNull(value: unknown): string | null {
  return typeof value === "string" ? cutString(value) : null;
}

/**
 * `text` cut to MAX_STRING UTF-16 units, never between the two halves of a character, and with
 * any lone surrogate the agent sent as U+FFFD. A lone surrogate is not valid Unicode: "a" + 200
 * emoji ended in \ud83d in the API and the feed, and a node named "x\ud800y" made every alert
 * webhook body with its name one that strict endpoints refuse (Postgres jsonb, serde_json): retried
 * for ever, it held every other node's alerts behind it (attacker trial).
 */
export function cutString(text: string): string {
  let cut = text;
  if (text.length > MAX_STRING) {
    const last = text.charCodeAt(MAX_STRING - 1);
    cut = text.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_STRING - 1 : MAX_STRING);
  }
  return cut.isWellFormed() ? cut : cut.toWellFormed();
}

/** The recent blocks. */
export interface BlockRing {
  /**
   * Records a report of a block; its entry (new, known or replacing the kept one: a majority's),
   * or undefined when not kept (older than everything kept, or another hash without a majority).
   */
  add(body: Record<string, unknown>, agentId: string, at: number): BlockEntry | undefined;
  /** A node's first report of `entry`, in histogram bin `bin`. */
  countArrival(entry: BlockEntry, bin: number): void;
  /** Highest number first, at most `limit`. */
  sorted(limit: number): BlockEntry[];
  /** The network's propagation histogram over the blocks kept. */
  histogram(): { binsMs: readonly number[]; counts: number[]; blocks: number };
  /** Blocks read back from storage (numbers already known are skipped); not changes to save. */
  restore(entries: BlockEntry[]): void;
  /** Whether `entry` was read back from storage (its arrivals were counted before a restart). */
  restored(entry: BlockEntry): boolean;
  /** Added or changed since the previous call, still kept. */
  takeDirty(): BlockEntry[];
  /** Changed again (a save that failed), those still kept. */
  markDirty(entries: BlockEntry[]): void;
  /**
   * Forgets the blocks numbered above `number` (a chain the active nodes are not on: another
   * network, or one that was reset); how many.
   */
  dropAbove(number: number): number;
  /** The lowest and highest numbers kept; null when empty. */
  range(): { lowest: number; highest: number } | null;
  /**
   * Blocks of a dead branch let go since the previous call, for a store to delete (by number and
   * hash: a block saved since at that number stays); and the lowest number above which they were,
   * for the pages (null: none).
   */
  takeDropped(): BlockEntry[];
  takeDropCeiling(): number | null;
  /** Kept blocks replaced by another hash, and dead-branch blocks let go, since it was made. */
  readonly reorganised: { replaced: number; dropped: number };
  /** Added since the previous call (or `discardNew`), still kept. */
  takeNew(): BlockEntry[];
  discardNew(): void;
  readonly size: number;
}

/**
 * An empty ring of at most `maxBlocks` blocks; `heads` says which blocks are active nodes' heads
 * (none when not given: no block has support).
 */
export function createBlockRing(maxBlocks: number, heads: HeadLookup = NO_HEADS): BlockRing {
  const blocks = new Map<number, BlockEntry>();
  let sortedBlocks: BlockEntry[] | null = [];
  let added: BlockEntry[] = [];
  /** Blocks to save: at most the ring's entries plus those added since the last take. */
  let dirty = new Set<BlockEntry>();
  const kept = (entry: BlockEntry) => blocks.get(entry.number) === entry;
  /**
   * The numbers kept, ascending: the lowest, which a new block pushes out, is at hand (a scan of
   * every kept block per new one let a history report of 99,000 blocks hold the loop for a second).
   */
  const numbers: number[] = [];
  /** Dead-branch blocks let go, for the store, and the lowest ceiling above which, for the pages. */
  let dropped: BlockEntry[] = [];
  let dropCeiling: number | null = null;
  const reorganised = { replaced: 0, dropped: 0 };
  const branches = createBranchSupport(blocks, heads);
  /** Entries read back from storage (restore). */
  const fromStorage = new WeakSet<BlockEntry>();
  const { child } = branches;

  /** The entry's peak, raised to the active nodes whose head it is now (saved when it moved). */
  function notePeak(entry: BlockEntry): void {
    if (entry.hash === null) return;
    const now = heads.count(entry.number, entry.hash);
    if (now <= entry.peak) return;
    entry.peak = now;
    dirty.add(entry);
  }

  /**
   * Puts the block of `hash` at `known`'s number when a majority of the active nodes at that
   * height or above are on its branch, and more than half as many as the kept block's branch's
   * peak (module comment); else undefined. The cheap checks first: the count of nodes at or above
   * a height walks every height the nodes are at.
   */
  function replace(known: BlockEntry, hash: string, fresh: () => BlockEntry): BlockEntry | undefined {
    const above = child(known.number, hash);
    const backing = heads.count(known.number, hash) + Math.max(0, above ? branches.supportOf(above) : 0);
    let peak = known.peak;
    if (backing * 2 <= peak) return undefined;
    // The kept branch above (its blocks descending from the kept one), too long a run to tell.
    const run: BlockEntry[] = [];
    for (let at = child(known.number, known.hash); at !== undefined; at = child(at.number, at.hash)) {
      if (run.length === MAX_SUPPORT_WALK) return undefined;
      run.push(at);
      peak = Math.max(peak, at.peak);
    }
    if (backing * 2 <= peak || backing * 2 <= heads.atOrAbove(known.number)) return undefined;
    // The dead branch's tip: its blocks above go (those below a kept block of another branch stay,
    // to be replaced in turn when reported).
    const top = numbers[numbers.length - 1]!;
    if (run.length > 0 && run[run.length - 1]!.number === top) {
      for (const entry of run) {
        blocks.delete(entry.number);
        numbers.pop();
        dropped.push(entry);
      }
      reorganised.dropped += run.length;
      if (dropped.length > maxBlocks) dropped = dropped.slice(-maxBlocks);
      dropCeiling = Math.min(dropCeiling ?? Infinity, known.number);
    }
    reorganised.replaced++;
    return insert(fresh());
  }

  /** Makes room for a block of `number`: false when it is older than everything kept. */
  function roomFor(number: number): boolean {
    if (blocks.size < maxBlocks) return true;
    const lowest = numbers[0]!;
    if (number < lowest) return false;
    blocks.delete(lowest);
    numbers.shift();
    return true;
  }

  function insert(entry: BlockEntry): BlockEntry {
    branches.forget();
    const replaced = blocks.has(entry.number);
    blocks.set(entry.number, entry);
    sortedBlocks = null;
    dirty.add(entry);
    added.push(entry);
    if (added.length > maxBlocks) added = added.slice(-maxBlocks);
    if (replaced) return entry;
    let lo = 0;
    let hi = numbers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (numbers[mid]! < entry.number) lo = mid + 1;
      else hi = mid;
    }
    numbers.splice(lo, 0, entry.number);
    return entry;
  }

  return {
    add(body, agentId, at) {
      const number = toSafeInteger(body["number"]);
      if (number === null) return undefined;
      const known = blocks.get(number);
      const hash = stringOrNull(body["hash"]);
      if (known && (known.hash === hash || known.hash === null || hash === null)) {
        known.reports++;
        dirty.add(known);
        notePeak(known);
        return known;
      }
      const fresh = (): BlockEntry => ({
        number,
        hash,
        parentHash: stringOrNull(body["parentHash"]),
        timestamp: toSafeInteger(body["timestamp"]),
        miner: stringOrNull(body["miner"]),
        gasUsed: toSafeInteger(body["gasUsed"]),
        gasLimit: toSafeInteger(body["gasLimit"]),
        difficulty: toApproxNumber(body["difficulty"]),
        transactionCount: Array.isArray(body["transactions"]) ? body["transactions"].length : null,
        uncleCount: Array.isArray(body["uncles"]) ? body["uncles"].length : null,
        firstSeen: at,
        firstSeenBy: agentId,
        reports: 1,
        propagation: new Array(PROPAGATION_BINS_MS.length + 1).fill(0),
        peak: 0,
      });
      const entry = known ? replace(known, hash!, fresh) : roomFor(number) ? insert(fresh()) : undefined;
      if (entry) notePeak(entry);
      return entry; // undefined: older than everything kept, or not the majority's
    },
    countArrival(entry, bin) {
      entry.propagation[bin]!++;
      dirty.add(entry);
    },
    sorted(limit) {
      sortedBlocks ??= [...blocks.values()].sort((a, b) => b.number - a.number);
      return sortedBlocks.slice(0, limit);
    },
    histogram() {
      const counts = new Array(PROPAGATION_BINS_MS.length + 1).fill(0);
      for (const entry of blocks.values()) entry.propagation.forEach((n, i) => counts[i] += n);
      return { binsMs: PROPAGATION_BINS_MS, counts, blocks: blocks.size };
    },
    restore(entries) {
      // Highest first: when they do not all fit, the oldest are the ones left out.
      for (const entry of [...entries].sort((a, b) => b.number - a.number)) {
        if (blocks.has(entry.number) || !roomFor(entry.number)) continue;
        const copy = insert({ ...entry, propagation: [...entry.propagation] });
        dirty.delete(copy); // as stored
        fromStorage.add(copy);
      }
    },
    restored: (entry) => fromStorage.has(entry),
    takeDirty() {
      const out = [...dirty].filter(kept);
      dirty = new Set();
      return out;
    },
    markDirty(entries) {
      for (const entry of entries) if (kept(entry)) dirty.add(entry);
    },
    dropAbove(number) {
      branches.forget();
      let dropped = 0;
      while (numbers.length > 0 && numbers[numbers.length - 1]! > number) {
        blocks.delete(numbers.pop()!);
        dropped++;
      }
      if (dropped > 0) sortedBlocks = null;
      return dropped;
    },
    range() {
      return numbers.length === 0 ? null : { lowest: numbers[0]!, highest: numbers[numbers.length - 1]! };
    },
    takeDropped() {
      const out = dropped;
      dropped = [];
      return out;
    },
    takeDropCeiling() {
      const out = dropCeiling;
      dropCeiling = null;
      return out;
    },
    takeNew() {
      // A block pushed out of the ring before the pages heard of it is not worth announcing.
      const out = added.filter(kept);
      added = [];
      return out;
    },
    discardNew() {
      added = [];
    },
    get size() {
      return blocks.size;
    },
    reorganised,
  };
}
