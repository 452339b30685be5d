/**
 * The state's nodes in id order for the read API's pages (`GET /v1/nodes`), kept between requests:
 * sorting all of them for each page cost 100 ms at 50,000 nodes (ids sharing a long prefix), so one
 * address within the read API's rate kept the event loop busy. When nodes came or went since the last
 * call, the ones kept are checked and the new ones sorted and merged in: linear in the nodes, no sort
 * of them all.
 */
import type { NodeState } from "./nodes.ts";
import type { WebState } from "./state.ts";

const byId = (a: NodeState, b: NodeState) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Returns a function giving the nodes sorted by id, as they are now (not to be modified). */
export function createNodesById(
  state: Pick<WebState, "membership" | "nodes" | "node">,
): () => readonly NodeState[] {
  let membership = -1;
  let sorted: NodeState[] = [];
  const known = new Set<NodeState>();
  return () => {
    if (state.membership === membership) return sorted;
    membership = state.membership;
    // A node forgotten and back is another object: the old one leaves, the new one comes in.
    const kept: NodeState[] = [];
    for (const node of sorted) {
      if (state.node(node.id) === node) kept.push(node);
      else known.delete(node);
    }
    const fresh: NodeState[] = [];
    for (const node of state.nodes()) if (!known.has(node)) fresh.push(node);
    fresh.sort(byId);
    const merged = new Array<NodeState>(kept.length + fresh.length);
    let i = 0;
    let j = 0;
    for (let k = 0; k < merged.length; k++) {
      merged[k] = j >= fresh.length || (i < kept.length && byId(kept[i]!, fresh[j]!) <= 0)
        ? kept[i++]!
        : fresh[j++]!;
    }
    for (const node of fresh) known.add(node);
    sorted = merged;
    return sorted;
  };
}
