/**
 * What the web dashboard knows in memory: the last reports of each node (sanitized and bounded),
 * recent blocks in a bounded ring, and which of them changed since the feed last flushed.
 */
import { type Message, payloadBody, payloadType } from "../core/message.ts";
import {
  type BlockEntry,
  createBlockRing,
  propagationBin,
  stringOrNull,
  toSafeInteger,
} from "./block_ring.ts";
import { type ChainHealth, createHeadIndex, MAX_LEAD_BLOCKS } from "./chain.ts";
import { createChainReset } from "./chain_reset.ts";
import type { GeoLocation } from "./geo.ts";
import { createStoredNodes, type StoredNode } from "./stored_nodes.ts";
import {
  createNodeTable,
  type NodeChange,
  type NodeReports,
  type NodeState,
  type TrackedNode,
} from "./nodes.ts";
import {
  INFORMATION_KEYS,
  pick,
  sanitizeBlock,
  sanitizeStatistics,
  type Scalar,
  SYSTEM_KEYS,
} from "./sanitize.ts";

/** Block hashes remembered per node as counted in a block's propagation (see `countedHashes`). */
const COUNTED_HASHES = 8;
/** Blocks of one history report taken into the recent blocks; the rest are left out. */
export const MAX_HISTORY_ENTRIES = 256;

/** Blocks a node's average propagation is taken over (its most recent). */
export const PROPAGATION_AVERAGE_OF = 20;

/** What changed since the last `takeChanges()`. */
export interface Changes {
  nodes: NodeChange[];
  removed: string[];
  blocks: BlockEntry[];
  /**
   * Blocks above this number left the ring since the last take: a chain no active node is on (a
   * reset), or a reorganisation's dead tip (the pages take the new blocks from `blocks`).
   */
  dropBlocksAbove: number | null;
}

export interface WebStateOptions {
  /** Nodes kept; beyond it the one heard from least recently is forgotten. */
  maxNodes: number;
  /** Blocks kept in the ring (highest numbers win). */
  maxBlocks: number;
  /**
   * How long the recent blocks must reach more than `maxBlocks` above the active nodes' best
   * block before they are let go as a chain no active node is on (default 300,000 ms: not for a
   * lagging node that is briefly the only active one, after a restart, say).
   */
  chainResetAfterMs?: number;
  /** An inactive node is forgotten this long after it went inactive. */
  removeInactiveAfterMs: number;
  /** A node whose head is more than this many blocks below the best one is behind. */
  behindBlocks?: number;
  /**
   * Places an address on the map (web_dashboard/geo.ts), called when a node's `Message.address`
   * first comes or changes, never per report; absent = no map (`location` stays null).
   */
  locate?: (address: string) => GeoLocation | null;
  /** Told once, when a node is first forgotten to make room (default console.warn). */
  warn?: (line: string) => void;
  now?: () => number;
}

/** The dashboard's in-memory state. */
export interface WebState {
  apply(message: Message): void;
  inactive(agentId: string): void;
  /** Forgets nodes inactive for longer than `removeInactiveAfterMs`; returns how many. */
  sweep(): number;
  node(id: string): NodeState | undefined;
  /** Every node, least recently heard from first. */
  nodes(): IterableIterator<NodeState>;
  readonly size: number;
  /** Moves whenever a node is added or forgotten (node_table's `membership`). */
  readonly membership: number;
  /** Recent blocks, highest number first (at most `limit`). */
  blocks(limit?: number): BlockEntry[];
  /** The network's propagation histogram over the blocks kept (counts per PROPAGATION_BINS_MS bin). */
  propagation(): { binsMs: readonly number[]; counts: number[]; blocks: number };
  /**
   * Reads forks and nodes behind off the nodes' heads, updates each node's `behindSince` (a node
   * whose flag changes counts as changed) and returns the result, also kept for `chain()`. When no
   * head and no node's activity changed since the last call, returns that call's result.
   */
  checkChain(): ChainHealth;
  /** The result of the last `checkChain()`. */
  chain(): ChainHealth;
  /**
   * Puts blocks read back from storage into the ring (numbers already known are skipped), as if
   * reported: a restart keeps the recent blocks and their propagation.
   */
  restoreBlocks(entries: BlockEntry[]): void;
  /**
   * What a block store may delete to hold what the ring holds: numbers below `below` (the ring is
   * full and keeps none of them), and above `above` (dropped since the last call); null: nothing.
   */
  takeBlockBounds(): { below: number | null; above: number | null };
  /** Blocks of a branch no active node is on, let go since the last call (block_ring.ts). */
  takeDroppedBlocks(): BlockEntry[];
  /** Blocks added or changed (reports, propagation) since the previous call, still in the ring. */
  takeDirtyBlocks(): BlockEntry[];
  /** Marks blocks changed again (a save that failed), those still in the ring. */
  markDirty(entries: BlockEntry[]): void;
  /** Nodes' information and statistics read back from storage (stored_nodes.ts). */
  restoreNodes(rows: Array<[string, unknown, unknown]>): void;
  /** Nodes' information and statistics reported since, to be saved (stored_nodes.ts `take`). */
  takeDirtyNodes(all?: boolean): Array<[string, StoredNode]>;
  /** Reports to save again (a save that failed), unless newer came since. */
  markNodesDirty(rows: Array<[string, StoredNode]>): void;
  /** Nodes changed, removed and blocks added since the previous call. */
  takeChanges(): Changes;
  /** Forgets what changed without building it (no page to tell: a new page gets a snapshot). */
  discardChanges(): void;
  stats(): {
    nodes: number;
    blocks: number;
    nodes_removed: number;
    nodes_evicted: number;
    /** Let go: a reset chain's (chain_reset.ts) and a dead branch's tip (block_ring.ts). */
    blocks_dropped: number;
    /** Kept blocks another hash took the place of, their branch dead (a reorganisation). */
    blocks_replaced: number;
  };
}

/** The lower of two optional ceilings. */
function lowest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

/** The `ethereum_metrics` payload types the state keeps. */
const ETHEREUM_TYPES = new Set(["information", "statistics", "block", "pending", "latency"]);

/** Creates an empty state. */
export function createWebState(options: WebStateOptions): WebState {
  const now = options.now ?? Date.now;
  /** Block summaries by reported body; read-only, shared by the nodes that reported it. */
  const blockSummaries = new WeakMap<Record<string, unknown>, Record<string, Scalar>>();
  const warn = options.warn ?? ((line: string) => console.warn(`web state: ${line}`));
  const behindBlocks = options.behindBlocks ?? 3;
  const locate = options.locate;
  let health: ChainHealth = { best: null, forks: [], behind: new Set() };
  /** The active nodes' heads, kept as reports come (see `checkChain`). */
  const heads = createHeadIndex();
  const nodes = createNodeTable({
    maxNodes: options.maxNodes,
    removeInactiveAfterMs: options.removeInactiveAfterMs,
    warn,
    now,
  }, heads);
  /** The heads tell the ring which branch the nodes are on (a reorganisation: branch_support.ts). */
  const ring = createBlockRing(options.maxBlocks, heads);
  /**
   * The head index's version at the last `checkChain()`: while no node's head or its being active
   * changed, the chain reads the same, and 10,000 nodes are not walked again every flush.
   */
  let checkedHeads = heads.version();
  let blocksDropped = 0;
  const stored = createStoredNodes(options.maxNodes);

  /**
   * The highest block number kept among the recent blocks: MAX_LEAD_BLOCKS above the best block
   * (the last check's, else the heads' now), so that a node's far-off numbers (another network, a
   * wrong report) do not push the network's blocks out of the ring for good.
   */
  function blockCeiling(): number {
    const best = health.best ?? heads.best();
    return best === null ? Infinity : best + MAX_LEAD_BLOCKS;
  }

  /** Lets go of the blocks of a chain no active node is on any more (web_dashboard/chain_reset.ts). */
  const chainReset = createChainReset(options.maxBlocks, options.chainResetAfterMs ?? 300_000);
  const dropDeadChain = (at: number) => blocksDropped += chainReset.check(ring, health.best, at);

  function believable(block: object, ceiling: number): boolean {
    const number = toSafeInteger((block as Record<string, unknown>)["number"]);
    return number === null || number <= ceiling; // no number: the ring refuses it itself
  }

  /** Reports read back from storage, for a node that has none of their kind yet (newer always wins). */
  function giveStored(node: TrackedNode, row: StoredNode | undefined): void {
    if (row?.information !== undefined && node.last.information === undefined) {
      node.last.information = row.information;
      nodes.changed(node, "information");
    }
    if (row?.statistics !== undefined && node.last.statistics === undefined) {
      node.last.statistics = row.statistics;
      nodes.changed(node, "statistics");
    }
  }

  function discardChanges(): void {
    nodes.discardChanges();
    ring.discardNew();
    chainReset.takeForPages(); // pages that connect later get a snapshot of the ring as it is
    ring.takeDropCeiling();
  }

  /**
   * A node's first report of a block it shares with the block's entry (same hash): its delay
   * after the first report, into the node's figures and the block's histogram.
   */
  function propagate(node: TrackedNode, entry: BlockEntry, hash: string | null, at: number): void {
    if (hash === null || hash !== entry.hash || node.countedHashes.includes(hash)) return;
    node.countedHashes.push(hash);
    if (node.countedHashes.length > COUNTED_HASHES) node.countedHashes.shift();
    // A block read back from storage had its arrivals counted before the restart: the nodes that
    // report it again as they reconnect are not new ones (nor is its first-seen time theirs).
    if (ring.restored(entry)) return;
    const delay = Math.max(0, at - entry.firstSeen);
    ring.countArrival(entry, propagationBin(delay));
    node.delays.push(delay);
    if (node.delays.length > PROPAGATION_AVERAGE_OF) node.delays.shift();
    node.propagation = {
      lastMs: delay,
      avgMs: Math.round(node.delays.reduce((a, b) => a + b, 0) / node.delays.length),
    };
  }

  return {
    apply(message) {
      const type = payloadType(message);
      const body = payloadBody(message);
      if (type === undefined || body === undefined) return;
      const system = message.dataType === "system_metrics";
      if (!system && type === "history") {
        // Blocks a node fills in on request (go-ethereum, the POA agent) are recent blocks too;
        // they say nothing new about the node itself.
        const history = body["history"];
        if (Array.isArray(history)) {
          // Real clients send at most 50 (go-ethereum) or 41 (the POA agent) at a time, of blocks
          // at or below their own head: none above it (else the network's best) is kept, or made-up
          // blocks just above the best would push the network's own out of the ring.
          const own = toSafeInteger(nodes.get(message.agentId)?.last.block?.["number"]);
          const ceiling = Math.min(blockCeiling(), own ?? health.best ?? heads.best() ?? Infinity);
          for (
            const entry of history.length > MAX_HISTORY_ENTRIES
              ? history.slice(0, MAX_HISTORY_ENTRIES)
              : history
          ) {
            if (entry !== null && typeof entry === "object" && believable(entry, ceiling)) {
              ring.add(entry as Record<string, unknown>, message.agentId, message.receivedAt);
            }
          }
        }
        return;
      }
      if (system && type !== "statistics") return;
      if (!system && !ETHEREUM_TYPES.has(type)) return;
      const node = nodes.touch(message.agentId, message.receivedAt);
      // Its information and statistics from before a restart, until it sends them again.
      if (stored.waiting > 0) giveStored(node, stored.recall(node.id));
      if (locate !== undefined && message.address !== undefined && message.address !== node.address) {
        node.address = message.address;
        node.location = locate(message.address);
        nodes.changed(node, "information"); // pages get the location with the node's information
      }
      const report: keyof NodeReports = system ? "system" : type as keyof NodeReports;
      nodes.changed(node, report);
      if (system) {
        node.last.system = pick(body, SYSTEM_KEYS);
      } else if (type === "information") {
        node.last.information = pick(body, INFORMATION_KEYS);
        stored.noted(node.id, "information", node.last.information);
      } else if (type === "statistics") {
        node.last.statistics = sanitizeStatistics(body);
        stored.noted(node.id, "statistics", node.last.statistics);
      } else if (type === "block") {
        // Nodes reporting one block share its body (core/shared_blocks.ts), and so its summary.
        let summary = blockSummaries.get(body);
        if (summary === undefined) blockSummaries.set(body, summary = sanitizeBlock(body));
        node.last.block = summary;
        node.blockReceivedAt = message.receivedAt;
        heads.set(node.id, summary);
        const entry = believable(body, blockCeiling())
          ? ring.add(body, message.agentId, message.receivedAt)
          : undefined;
        if (entry) propagate(node, entry, stringOrNull(body["hash"]), message.receivedAt);
      } else if (type === "pending") {
        node.last.pending = pick(body, ["pending"]);
      } else {
        node.last.latency = pick(body, ["latency"]);
      }
    },
    inactive: (agentId) => nodes.inactive(agentId),
    sweep: () => nodes.sweep(),
    node: (id) => nodes.get(id),
    nodes: () => nodes.values(),
    get size() {
      return nodes.size;
    },
    get membership() {
      return nodes.membership;
    },
    blocks: (limit = options.maxBlocks) => ring.sorted(limit),
    propagation: () => ring.histogram(),
    checkChain() {
      if (checkedHeads === heads.version()) {
        dropDeadChain(now());
        return health;
      }
      checkedHeads = heads.version();
      const before = health.behind;
      health = heads.health(behindBlocks);
      dropDeadChain(now());
      // Only the nodes behind before or now can change: a node is behind since a time exactly
      // while it is in the last result's `behind` (a node forgotten and back starts anew).
      const at = now();
      for (const id of health.behind) {
        const node = nodes.get(id);
        if (node === undefined || node.behindSince !== null) continue;
        node.behindSince = at;
        nodes.changed(node);
      }
      for (const id of before) {
        const node = nodes.get(id);
        if (node === undefined || node.behindSince === null || health.behind.has(id)) continue;
        node.behindSince = null;
        nodes.changed(node);
      }
      return health;
    },
    chain: () => health,
    restoreBlocks: (entries) => ring.restore(entries),
    takeBlockBounds() {
      const range = ring.range();
      const bounds = {
        below: range !== null && ring.size >= options.maxBlocks ? range.lowest : null,
        above: chainReset.takeForStore(),
      };
      return bounds;
    },
    takeDroppedBlocks: () => ring.takeDropped(),
    takeDirtyBlocks: () => ring.takeDirty(),
    markDirty: (entries) => ring.markDirty(entries),
    restoreNodes(rows) {
      stored.restore(rows, (agentId, row) => {
        const node = nodes.get(agentId);
        if (node === undefined) return false;
        giveStored(node, row);
        return true;
      });
    },
    takeDirtyNodes: (all) => stored.take(all),
    markNodesDirty: (rows) => stored.markDirty(rows),
    takeChanges() {
      const { nodes: changed, removed } = nodes.takeChanges();
      const out: Changes = {
        nodes: changed,
        removed,
        blocks: ring.takeNew(),
        dropBlocksAbove: lowest(chainReset.takeForPages(), ring.takeDropCeiling()),
      };
      discardChanges();
      return out;
    },
    discardChanges,
    stats() {
      const { replaced, dropped } = ring.reorganised;
      return {
        nodes: nodes.size,
        blocks: ring.size,
        ...nodes.counters,
        blocks_dropped: blocksDropped + dropped,
        blocks_replaced: replaced,
      };
    },
  };
}
