/**
 * Letting go of a chain no active node is on any more (a network reset, the only nodes of a higher
 * network gone): once the recent blocks have reached more than `maxBlocks` above the best block for
 * `resetAfterMs`, those above that leave the ring, and the lower chain's blocks can fill it. The
 * pages and the block store are told what left (each takes it once).
 */
import type { BlockRing } from "./block_ring.ts";

export interface ChainReset {
  /** At a chain check: drops what has been too far above `best` for too long; how many. */
  check(ring: BlockRing, best: number | null, at: number): number;
  /** The lowest ceiling of the drops since the last take by the pages (null: none), then forgets it. */
  takeForPages(): number | null;
  /** The same for the block store, kept apart (it saves on a timer of its own). */
  takeForStore(): number | null;
}

export function createChainReset(maxBlocks: number, resetAfterMs: number): ChainReset {
  /** Since when the ring reaches more than maxBlocks above the best block (null: it does not). */
  let farSince: number | null = null;
  let forPages: number | null = null;
  let forStore: number | null = null;
  return {
    check(ring, best, at) {
      const highest = ring.range()?.highest;
      if (best === null || highest === undefined || highest <= best + maxBlocks) {
        farSince = null;
        return 0;
      }
      farSince ??= at;
      if (at - farSince < resetAfterMs) return 0;
      const ceiling = best + maxBlocks;
      forPages = Math.min(forPages ?? Infinity, ceiling);
      forStore = Math.min(forStore ?? Infinity, ceiling);
      farSince = null;
      return ring.dropAbove(ceiling);
    },
    takeForPages() {
      const out = forPages;
      forPages = null;
      return out;
    },
    takeForStore() {
      const out = forStore;
      forStore = null;
      return out;
    },
  };
}
