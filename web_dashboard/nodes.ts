/**
 * The web dashboard's nodes: each one's last reports and figures, bounded in number, which of
 * them changed since the feed last flushed, and their heads in the head index (chain.ts) while
 * they are active. The reports themselves are filled in by state.ts.
 */
import { overCapWarning } from "../core/cap_warning.ts";
import { RecencyMap } from "../core/recency_map.ts";
import type { HeadIndex } from "./chain.ts";
import type { GeoLocation } from "./geo.ts";
import type { SanitizedStatistics, Scalar } from "./sanitize.ts";

/** The reports kept per node; each is the body the agent sent, reduced to known fields. */
export interface NodeReports {
  information?: Record<string, Scalar>;
  /** Ethereum statistics; `syncing` is false, null or `{currentBlock, highestBlock, startingBlock}`. */
  statistics?: SanitizedStatistics;
  /** The block without its transactions and uncles (counted instead). */
  block?: Record<string, Scalar>;
  pending?: Record<string, Scalar>;
  latency?: Record<string, Scalar>;
  /** Host statistics (`system_metrics`): `cpu_load`, `memory_usage`, `disk_usage`. */
  system?: Record<string, Scalar>;
}

/** How fast a node gets blocks, after the first node to report each. */
export interface Propagation {
  /** Delay of its latest block (0 when it reported it first); null before any. */
  lastMs: number | null;
  /** Mean delay over its last PROPAGATION_AVERAGE_OF (state.ts) blocks. */
  avgMs: number | null;
}

/** One node (agent) as the dashboard knows it. Times are epoch milliseconds. */
export interface NodeState {
  id: string;
  active: boolean;
  firstSeen: number;
  /** When the service accepted the node's latest report. */
  lastSeen: number;
  /** When the node was reported inactive; null while active. */
  inactiveSince: number | null;
  /** When the service accepted the node's latest block report. */
  blockReceivedAt: number | null;
  propagation: Propagation;
  /**
   * Since when its head has been more than `behindBlocks` below the network's best block (or it
   * has none while others do), as of the last `checkChain()`; null when it is not behind.
   */
  behindSince: number | null;
  /** Where its reports come from (`WebStateOptions.locate` on its address); null when unknown or no map. */
  location: GeoLocation | null;
  last: NodeReports;
}

/** A node that changed, with the reports that changed ("all" for a node new since the last time). */
export interface NodeChange {
  node: NodeState;
  reports: Array<keyof NodeReports> | "all";
}

/** A node with the state's own bookkeeping (views copy the NodeState fields one by one). */
export interface TrackedNode extends NodeState {
  /** Change bits since the last take (REPORT_BITS, NEW, LISTED). */
  changes: number;
  /** Its recent propagation delays (at most PROPAGATION_AVERAGE_OF), oldest first. */
  delays: number[];
  /**
   * Hashes of the last blocks counted for it (at most COUNTED_HASHES, state.ts): geth repeats its
   * head in every full report, and a node going back and forth between two blocks is counted once
   * at each in their propagation (read back after a restart, that count is the bar a reorganisation
   * must pass: block_ring.ts).
   */
  countedHashes: string[];
  /** The address its `location` was looked up for. */
  address: string | undefined;
}

/**
 * What changed of a node since the last take, as bits on the node: one per report, NEW for a
 * node the pages may not know (all its reports), LISTED once it is in the list of changed nodes.
 * A number on the node, not a Set per node in a map: 10,000 nodes reporting in one flush interval
 * must not allocate 10,000 collections that live just long enough to be promoted by the garbage
 * collector, nor cost map lookups on every report.
 */
const REPORT_BITS: ReadonlyArray<readonly [keyof NodeReports, number]> = [
  ["information", 1],
  ["statistics", 2],
  ["block", 4],
  ["pending", 8],
  ["latency", 16],
  ["system", 32],
];
const NEW = 64;
const LISTED = 128;
const bitOf = Object.fromEntries(REPORT_BITS) as Record<keyof NodeReports, number>;

export interface NodeTableOptions {
  /** Nodes kept; beyond it the one heard from least recently is forgotten. */
  maxNodes: number;
  /** An inactive node is forgotten this long after it went inactive. */
  removeInactiveAfterMs: number;
  /** Told once, when a node is first forgotten to make room. */
  warn: (line: string) => void;
  now: () => number;
}

/** The nodes, least recently heard from first. */
export interface NodeTable {
  /** The node heard from at `at` (new, or back from inactive), now the most recently heard from. */
  touch(id: string, at: number): TrackedNode;
  /** Marks a report of the node changed; without one, the node itself (its figures, a flag). */
  changed(node: TrackedNode, report?: keyof NodeReports): void;
  inactive(id: string): void;
  /** Forgets nodes inactive for longer than `removeInactiveAfterMs`; returns how many. */
  sweep(): number;
  get(id: string): TrackedNode | undefined;
  values(): IterableIterator<TrackedNode>;
  readonly size: number;
  /** Moves whenever a node is added or forgotten (the same set of nodes while it stays). */
  readonly membership: number;
  /** Nodes changed and removed since the previous take (or discard). */
  takeChanges(): { nodes: NodeChange[]; removed: string[] };
  discardChanges(): void;
  readonly counters: { nodes_removed: number; nodes_evicted: number };
}

/** Creates an empty table whose active nodes' heads are kept in `heads`. */
export function createNodeTable(options: NodeTableOptions, heads: HeadIndex): NodeTable {
  /** Least recently heard from first (every report makes its node the newest). */
  const nodes = new RecencyMap<string, TrackedNode>();
  /** The inactive nodes' ids: exactly the nodes whose `active` is false. */
  const inactiveIds = new Set<string>();
  /** Nodes changed since the last take, in the order of their first change (each once: LISTED). */
  let changedNodes: TrackedNode[] = [];
  const removed = new Set<string>();
  const counters = { nodes_removed: 0, nodes_evicted: 0 };
  let membership = 0;

  function markChanged(node: TrackedNode, bits: number): void {
    if ((node.changes & LISTED) === 0) changedNodes.push(node);
    node.changes |= LISTED | bits;
  }

  function forget(id: string): void {
    membership++;
    heads.remove(id);
    nodes.delete(id);
    inactiveIds.delete(id);
    removed.add(id); // a node listed in `changedNodes` is skipped there: it is no longer in `nodes`
  }

  function discardChanges(): void {
    for (const node of changedNodes) node.changes = 0;
    changedNodes = [];
    removed.clear();
  }

  function add(id: string, at: number): TrackedNode {
    if (nodes.size >= options.maxNodes) {
      const oldest = nodes.oldestKey();
      if (oldest !== undefined) {
        forget(oldest);
        if (counters.nodes_evicted++ === 0) {
          options.warn(overCapWarning("maxNodes", options.maxNodes, "nodes", "nodes_evicted"));
        }
      }
    }
    const node: TrackedNode = {
      id,
      active: true,
      firstSeen: at,
      lastSeen: at,
      inactiveSince: null,
      blockReceivedAt: null,
      propagation: { lastMs: null, avgMs: null },
      behindSince: null,
      location: null,
      last: {},
      changes: 0,
      delays: [],
      countedHashes: [],
      address: undefined,
    };
    removed.delete(id); // forgotten and back before the flush: a new node, not a removed one
    membership++;
    heads.set(id, null);
    markChanged(node, NEW);
    nodes.set(id, node);
    return node;
  }

  return {
    touch(id, at) {
      let node = nodes.touch(id); // now the most recently heard from
      if (node === undefined) node = add(id, at);
      else if (!node.active) {
        inactiveIds.delete(id);
        heads.set(id, node.last.block);
      }
      node.lastSeen = Math.max(node.lastSeen, at);
      node.active = true;
      node.inactiveSince = null;
      return node;
    },
    changed: (node, report) => markChanged(node, report === undefined ? 0 : bitOf[report]),
    inactive(id) {
      const node = nodes.get(id);
      if (!node || !node.active) return;
      node.active = false;
      heads.remove(id);
      node.inactiveSince = options.now();
      inactiveIds.add(id);
      markChanged(node, 0);
    },
    sweep() {
      const deadline = options.now() - options.removeInactiveAfterMs;
      let count = 0;
      for (const id of [...inactiveIds]) {
        const node = nodes.get(id);
        if (node && node.inactiveSince !== null && node.inactiveSince <= deadline) {
          forget(id);
          count++;
        }
      }
      counters.nodes_removed += count;
      return count;
    },
    get: (id) => nodes.get(id),
    values: () => nodes.values(),
    get size() {
      return nodes.size;
    },
    get membership() {
      return membership;
    },
    takeChanges() {
      const out = {
        nodes: changedNodes.flatMap((node): NodeChange[] => {
          if (nodes.get(node.id) !== node) return []; // forgotten since (maybe back as a new node)
          const bits = node.changes;
          const reports = bits & NEW
            ? "all"
            : REPORT_BITS.filter(([, bit]) => bits & bit).map(([name]) => name);
          return [{ node, reports }];
        }),
        removed: [...removed],
      };
      discardChanges();
      return out;
    },
    discardChanges,
    counters,
  };
}
