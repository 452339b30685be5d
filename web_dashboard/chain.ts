/**
 * The network's chain health, read from the nodes' latest blocks: the best block, forks (active
 * nodes whose heads are at one height on different hashes: which nodes on which branch) and the
 * nodes behind the best block by more than a threshold.
 */
import type { NodeState } from "./state.ts";

/** Forks listed at most (highest first): a network splitting at every height is one story. */
export const MAX_FORKS = 10;
/** Node ids listed per branch at most; `count` says how many there are. */
export const MAX_BRANCH_NODES = 100;

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
  /** Highest block any active node has as its head; null before any. */
  best: number | null;
  forks: Fork[];
  /** Active nodes whose head is more than `behindBlocks` below `best` (or who have none). */
  behind: Set<string>;
}

/** A head of a node: number and hash of its latest block report. */
function head(node: NodeState): { number: number; hash: string | null } | null {
  const block = node.last.block;
  const number = block?.["number"];
  if (typeof number !== "number") return null;
  const hash = block?.["hash"];
  return { number, hash: typeof hash === "string" ? hash : null };
}

/** Reads the chain's health off the nodes (active ones only). O(nodes). */
export function chainHealth(nodes: Iterable<NodeState>, behindBlocks: number): ChainHealth {
  let best: number | null = null;
  /** height → hash → node ids */
  const heights = new Map<number, Map<string, string[]>>();
  const active: NodeState[] = [];
  for (const node of nodes) {
    if (!node.active) continue;
    active.push(node);
    const h = head(node);
    if (h === null) continue;
    if (best === null || h.number > best) best = h.number;
    if (h.hash === null) continue;
    let hashes = heights.get(h.number);
    if (!hashes) heights.set(h.number, hashes = new Map());
    let ids = hashes.get(h.hash);
    if (!ids) hashes.set(h.hash, ids = []);
    ids.push(node.id);
  }
  const forks: Fork[] = [];
  for (const [number, hashes] of heights) {
    if (hashes.size < 2) continue;
    const branches = [...hashes].map(([hash, ids]) => ({
      hash,
      count: ids.length,
      nodes: ids.slice(0, MAX_BRANCH_NODES).sort(),
    }));
    branches.sort((a, b) => b.count - a.count || (a.hash < b.hash ? -1 : 1));
    forks.push({ number, branches });
  }
  forks.sort((a, b) => b.number - a.number);
  const behind = new Set<string>();
  if (best !== null) {
    for (const node of active) {
      const number = node.last.block?.["number"];
      if (typeof number !== "number" || best - number > behindBlocks) behind.add(node.id);
    }
  }
  return { best, forks: forks.slice(0, MAX_FORKS), behind };
}
