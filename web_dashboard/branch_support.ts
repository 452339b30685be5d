/**
 * Which of the recent blocks the nodes are on (web_dashboard/block_ring.ts): a kept block's
 * support is the number of active nodes whose head is that block or a kept block above it that
 * descends from it by parent hashes. The ring lets a kept block give way to another hash when a
 * majority of the active nodes at that height or above are on the other's branch.
 */
import type { BlockEntry } from "./block_ring.ts";
import type { HeadIndex } from "./chain.ts";

/** The active nodes' heads, as the ring asks about them. */
export type HeadLookup = Pick<HeadIndex, "count" | "atOrAbove" | "version">;

export const NO_HEADS: HeadLookup = { count: () => 0, atOrAbove: () => 0, version: () => 0 };

/**
 * Kept blocks walked up from one at most (a support walk further up says "unknown": kept as it
 * is). Reorganisations and restarted chains are shallower; a frame of 256 history entries, each
 * walking a 20,000-block ring, held the event loop 400 ms.
 */
export const MAX_SUPPORT_WALK = 256;

export interface BranchSupport {
  /** The kept block above block `number` of `hash` that descends from it (parent hash), if any. */
  child(number: number, hash: string | null): BlockEntry | undefined;
  /**
   * Active nodes whose head is `entry` or a kept block above it that descends from it; -1 when
   * that run goes on past MAX_SUPPORT_WALK blocks (unknown).
   */
  supportOf(entry: BlockEntry): number;
  /** The kept blocks changed: what was worked out of them is forgotten. */
  forget(): void;
}

/**
 * Support over the ring's `blocks`, remembered while the heads and the blocks stay as they were:
 * a node's history of 50 blocks of other hashes walks the ring up once, not 50 times.
 */
export function createBranchSupport(
  blocks: ReadonlyMap<number, BlockEntry>,
  heads: HeadLookup,
): BranchSupport {
  const support = new Map<BlockEntry, number>();
  let supportAt = heads.version();

  function child(number: number, hash: string | null): BlockEntry | undefined {
    const next = hash === null ? undefined : blocks.get(number + 1);
    return next !== undefined && next.parentHash === hash ? next : undefined;
  }

  return {
    child,
    supportOf(entry) {
      if (supportAt !== heads.version()) {
        support.clear();
        supportAt = heads.version();
      }
      const run: BlockEntry[] = [];
      let total = 0;
      for (let at: BlockEntry | undefined = entry; at !== undefined; at = child(at.number, at.hash)) {
        const known = support.get(at);
        if (known !== undefined) {
          total = known;
          break;
        }
        if (run.length === MAX_SUPPORT_WALK) {
          total = -1;
          break;
        }
        run.push(at);
      }
      for (let i = run.length - 1; i >= 0; i--) {
        const e = run[i]!;
        if (total !== -1 && e.hash !== null) total += heads.count(e.number, e.hash);
        support.set(e, total);
      }
      return total;
    },
    forget() {
      support.clear();
    },
  };
}
