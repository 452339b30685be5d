/**
 * The network's chain health, read from the nodes' latest blocks: the best block, forks (active
 * nodes whose heads are at one height on different hashes: which nodes on which branch) and the
 * nodes behind the best block by more than a threshold.
 */
import type { NodeState } from "./nodes.ts";

/** Forks listed at most (highest first): a network splitting at every height is one story. */
export const MAX_FORKS = 10;
/** Node ids listed per branch at most; `count` says how many there are. */
export const MAX_BRANCH_NODES = 100;
/**
 * A head this many blocks above every other node's, and reached by that node alone, is not the
 * network's best block: a node of another network, or a wrong report (a block numbered 2^53 - 1
 * would put every other node "behind" and fill the recent blocks for good). Blocks this far above
 * the best are not kept either (web_dashboard/state.ts). 100,000 blocks are days of any chain: a
 * node stuck that long in a network of two is the one case it misreads.
 */
export const MAX_LEAD_BLOCKS = 100_000;

/** One branch of a fork: the nodes whose head is `hash`. */
export interface Branch {
  hash: string;
  count: number;
  /** Node ids, at most MAX_BRANCH_NODES. */
  nodes: string[];
}

/** Active nodes at one height on two or more hashes; branches with the most nodes first. */
export interface Fork {
  number: number;
  branches: Branch[];
}

export interface ChainHealth {
  /**
   * Highest block an active node has as its head, unless that node alone is there and more than
   * MAX_LEAD_BLOCKS above every other node (then the next highest); null before any.
   */
  best: number | null;
  forks: Fork[];
  /** Active nodes whose head is more than `behindBlocks` below `best` (or who have none). */
  behind: Set<string>;
}

/** A node's head: the number of its latest block, and its hash when it has one. */
interface Head {
  number: number;
  hash: string | null;
}

/** The head in a block summary; null when it has no numeric `number` (or there is no block). */
function headOf(block: Record<string, unknown> | null | undefined): Head | null {
  const number = block?.["number"];
  if (typeof number !== "number") return null;
  const hash = block?.["hash"];
  return { number, hash: typeof hash === "string" ? hash : null };
}

/** The active nodes at one height: those on each hash, and those whose block has none. */
interface Height {
  hashes: Map<string, Set<string>>;
  unhashed: Set<string>;
  count: number;
}

/**
 * The active nodes' heads, kept up to date as they change: `health()` then reads the chain in
 * O(heights + nodes behind + fork branches), not O(nodes) (30,000 nodes took 3-23 ms a walk).
 */
export interface HeadIndex {
  /** An active node and its latest block (null or undefined: none yet). */
  set(id: string, block: Record<string, unknown> | null | undefined): void;
  /** A node no longer counted: inactive, or forgotten. */
  remove(id: string): void;
  /** The chain's health as the active nodes' heads say now. */
  health(behindBlocks: number): ChainHealth;
  /** Its best block alone (ChainHealth.best), in one pass over the heights. */
  best(): number | null;
  /** Active nodes whose head is the block `number` with `hash`. */
  count(number: number, hash: string): number;
  /** Active nodes whose head is block `number` or higher (one of any hash). */
  atOrAbove(number: number): number;
  /** Changes whenever a head does (set or remove). */
  version(): number;
}

/** The first MAX_BRANCH_NODES ids of a branch (in the order they got there), sorted. */
function firstIds(ids: Set<string>): string[] {
  const out: string[] = [];
  for (const id of ids) {
    if (out.length === MAX_BRANCH_NODES) break;
    out.push(id);
  }
  return out.sort();
}

export function createHeadIndex(): HeadIndex {
  /** Active node → its head (null: no block with a number yet). */
  const heads = new Map<string, Head | null>();
  const heights = new Map<number, Height>();
  const headless = new Set<string>();
  let version = 0;

  function remove(id: string): void {
    const old = heads.get(id);
    if (old === undefined) return;
    version++;
    heads.delete(id);
    if (old === null) {
      headless.delete(id);
      return;
    }
    const at = heights.get(old.number)!;
    if (old.hash === null) at.unhashed.delete(id);
    else {
      const ids = at.hashes.get(old.hash)!;
      ids.delete(id);
      if (ids.size === 0) at.hashes.delete(old.hash);
    }
    if (--at.count === 0) heights.delete(old.number);
  }

  return {
    set(id, block) {
      const head = headOf(block);
      const old = heads.get(id);
      if (
        old !== undefined &&
        (old === null || head === null ? old === head : old.number === head.number && old.hash === head.hash)
      ) return;
      remove(id);
      version++;
      heads.set(id, head);
      if (head === null) {
        headless.add(id);
        return;
      }
      let at = heights.get(head.number);
      if (!at) heights.set(head.number, at = { hashes: new Map(), unhashed: new Set(), count: 0 });
      at.count++;
      if (head.hash === null) {
        at.unhashed.add(id);
        return;
      }
      let ids = at.hashes.get(head.hash);
      if (!ids) at.hashes.set(head.hash, ids = new Set());
      ids.add(id);
    },
    remove,
    best: () => bestOf(heights),
    count: (number, hash) => heights.get(number)?.hashes.get(hash)?.size ?? 0,
    atOrAbove(number) {
      // One pass, nothing allocated: asked only when another hash has passed the cheaper checks
      // (a sorted copy made at every head change cost 1 ms a report at 10,000 heights).
      let nodes = 0;
      for (const [at, height] of heights) if (at >= number) nodes += height.count;
      return nodes;
    },
    version: () => version,
    health(behindBlocks) {
      const best = bestOf(heights);
      // The highest MAX_FORKS heights with two hashes or more, and only their branches built: every
      // fork's were, then all but ten dropped (25,000 forked heights, 70-220 ms per check).
      const forked: number[] = [];
      for (const [number, at] of heights) if (at.hashes.size >= 2) forked.push(number);
      forked.sort((a, b) => b - a);
      const forks: Fork[] = forked.slice(0, MAX_FORKS).map((number) => {
        const branches = [...heights.get(number)!.hashes].map(([hash, ids]) => ({
          hash,
          count: ids.size,
          nodes: firstIds(ids),
        }));
        branches.sort((a, b) => b.count - a.count || (a.hash < b.hash ? -1 : 1));
        return { number, branches };
      });
      const behind = new Set<string>();
      if (best !== null) {
        for (const id of headless) behind.add(id);
        for (const [number, at] of heights) {
          if (best - number <= behindBlocks) continue;
          for (const id of at.unhashed) behind.add(id);
          for (const ids of at.hashes.values()) for (const id of ids) behind.add(id);
        }
      }
      return { best, forks, behind };
    },
  };
}

/** The best block of the heights the active nodes are at (see ChainHealth.best). */
function bestOf(heights: ReadonlyMap<number, Height>): number | null {
  let top: number | null = null;
  let next: number | null = null;
  for (const number of heights.keys()) {
    if (top === null || number > top) {
      next = top;
      top = number;
    } else if (next === null || number > next) next = number;
  }
  if (top !== null && next !== null && top - next > MAX_LEAD_BLOCKS && heights.get(top)!.count === 1) {
    return next;
  }
  return top;
}

/** Reads the chain's health off the nodes (active ones only), from scratch. O(nodes). */
export function chainHealth(nodes: Iterable<NodeState>, behindBlocks: number): ChainHealth {
  const index = createHeadIndex();
  for (const node of nodes) if (node.active) index.set(node.id, node.last.block);
  return index.health(behindBlocks);
}
