/**
 * What the web dashboard knows in memory: the last reports of each node (sanitized and bounded),
 * recent blocks in a bounded ring, and which of them changed since the feed last flushed.
 */
import { type Message, payloadBody, payloadType } from "../core/message.ts";
import { overCapWarning } from "../core/cap_warning.ts";
import { RecencyMap } from "../core/recency_map.ts";
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
import {
  INFORMATION_KEYS,
  pick,
  sanitizeBlock,
  type SanitizedStatistics,
  sanitizeStatistics,
  type Scalar,
  SYSTEM_KEYS,
} from "./sanitize.ts";

/** Blocks of one history report taken into the recent blocks; the rest are left out. */
/** Block hashes remembered per node as counted in a block's propagation (see `countedHashes`). */
const COUNTED_HASHES = 8;
export const MAX_HISTORY_ENTRIES = 256;

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

/** Blocks a node's average propagation is taken over (its most recent). */
export const PROPAGATION_AVERAGE_OF = 20;

/** How fast a node gets blocks, after the first node to report each. */
export interface Propagation {
  /** Delay of its latest block (0 when it reported it first); null before any. */
  lastMs: number | null;
  /** Mean delay over its last PROPAGATION_AVERAGE_OF blocks. */
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

/** What changed since the last `takeChanges()`. */
export interface Changes {
  nodes: NodeChange[];
  removed: string[];
  blocks: BlockEntry[];
  /** Blocks above this number left the ring since the last take (a chain no active node is on). */
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

/** A node with the state's own bookkeeping (views copy the NodeState fields one by one). */
interface TrackedNode extends NodeState {
  /** Change bits since the last take (REPORT_BITS, NEW, LISTED). */
  changes: number;
  /** Its recent propagation delays (at most PROPAGATION_AVERAGE_OF), oldest first. */
  delays: number[];
  /**
   * Hashes of the last blocks counted for it (at most COUNTED_HASHES): geth repeats its head in
   * every full report, and a node going back and forth between two blocks is counted once at each
   * (a block's count of head reporters is the bar a reorganisation must pass: branch_support.ts).
   */
  countedHashes: string[];
  /** The address its `location` was looked up for. */
  address: string | undefined;
}

/** Creates an empty state. */
export function createWebState(options: WebStateOptions): WebState {
  const now = options.now ?? Date.now;
  /** Least recently heard from first (every report makes its node the newest). */
  const nodes = new RecencyMap<string, TrackedNode>();
  /** Block summaries by reported body; read-only, shared by the nodes that reported it. */
  const blockSummaries = new WeakMap<Record<string, unknown>, Record<string, Scalar>>();
  /** The inactive nodes' ids: exactly the nodes whose `active` is false. */
  const inactiveIds = new Set<string>();
  /** Nodes changed since the last take, in the order of their first change (each once: LISTED). */
  let changed: TrackedNode[] = [];
  const removed = new Set<string>();
  const counters = { nodes_removed: 0, nodes_evicted: 0, blocks_dropped: 0 };
  const warn = options.warn ?? ((line: string) => console.warn(`web state: ${line}`));
  const behindBlocks = options.behindBlocks ?? 3;
  const locate = options.locate;
  let health: ChainHealth = { best: null, forks: [], behind: new Set() };
  /** The active nodes' heads, kept as reports come (see `checkChain`). */
  const heads = createHeadIndex();
  /** The heads tell the ring which branch the nodes are on (a reorganisation: branch_support.ts). */
  const ring = createBlockRing(options.maxBlocks, heads);
  /**
   * Whether a node's head or its being active changed since the last `checkChain()`: when nothing
   * did, the chain reads the same, and 10,000 nodes are not walked again every flush.
   */
  let headsChanged = false;

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
  const dropDeadChain = (at: number) => counters.blocks_dropped += chainReset.check(ring, health.best, at);

  function believable(block: object, ceiling: number): boolean {
    const number = toSafeInteger((block as Record<string, unknown>)["number"]);
    return number === null || number <= ceiling; // no number: the ring refuses it itself
  }

  function discardChanges(): void {
    for (const node of changed) node.changes = 0;
    changed = [];
    removed.clear();
    ring.discardNew();
    chainReset.takeForPages(); // pages that connect later get a snapshot of the ring as it is
    ring.takeDropCeiling();
  }

  function markChanged(node: TrackedNode, bits: number): void {
    if ((node.changes & LISTED) === 0) changed.push(node);
    node.changes |= LISTED | bits;
  }

  function forget(id: string): void {
    headsChanged = true;
    heads.remove(id);
    nodes.delete(id);
    inactiveIds.delete(id);
    removed.add(id); // a node listed in `changed` is skipped there: it is no longer in `nodes`
  }

  function touch(id: string, at: number): TrackedNode {
    let node = nodes.touch(id); // now the most recently heard from
    if (node) {
      if (!node.active) {
        inactiveIds.delete(id);
        heads.set(id, node.last.block);
        headsChanged = true;
      }
    } else {
      headsChanged = true;
      if (nodes.size >= options.maxNodes) {
        const oldest = nodes.oldestKey();
        if (oldest !== undefined) {
          forget(oldest);
          if (counters.nodes_evicted++ === 0) {
            warn(overCapWarning("maxNodes", options.maxNodes, "nodes", "nodes_evicted"));
          }
        }
      }
      node = {
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
      heads.set(id, null);
      markChanged(node, NEW);
      nodes.set(id, node);
    }
    node.lastSeen = Math.max(node.lastSeen, at);
    node.active = true;
    node.inactiveSince = null;
    return node;
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
      const node = touch(message.agentId, message.receivedAt);
      if (locate !== undefined && message.address !== undefined && message.address !== node.address) {
        node.address = message.address;
        node.location = locate(message.address);
        markChanged(node, bitOf.information); // pages get the location with the node's information
      }
      const report: keyof NodeReports = system ? "system" : type as keyof NodeReports;
      markChanged(node, bitOf[report]);
      if (system) {
        node.last.system = pick(body, SYSTEM_KEYS);
      } else if (type === "information") {
        node.last.information = pick(body, INFORMATION_KEYS);
      } else if (type === "statistics") {
        node.last.statistics = sanitizeStatistics(body);
      } else if (type === "block") {
        // Nodes reporting one block share its body (core/shared_blocks.ts), and so its summary.
        let summary = blockSummaries.get(body);
        if (summary === undefined) blockSummaries.set(body, summary = sanitizeBlock(body));
        node.last.block = summary;
        node.blockReceivedAt = message.receivedAt;
        heads.set(node.id, summary);
        headsChanged = true;
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
    inactive(agentId) {
      const node = nodes.get(agentId);
      if (!node || !node.active) return;
      node.active = false;
      heads.remove(agentId);
      headsChanged = true;
      node.inactiveSince = now();
      inactiveIds.add(agentId);
      markChanged(node, 0);
    },
    sweep() {
      const deadline = now() - options.removeInactiveAfterMs;
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
    node: (id) => nodes.get(id),
    nodes: () => nodes.values(),
    get size() {
      return nodes.size;
    },
    blocks: (limit = options.maxBlocks) => ring.sorted(limit),
    propagation: () => ring.histogram(),
    checkChain() {
      if (!headsChanged) {
        dropDeadChain(now());
        return health;
      }
      headsChanged = false;
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
        markChanged(node, 0);
      }
      for (const id of before) {
        const node = nodes.get(id);
        if (node === undefined || node.behindSince === null || health.behind.has(id)) continue;
        node.behindSince = null;
        markChanged(node, 0);
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
    takeChanges() {
      const out: Changes = {
        nodes: changed.flatMap((node) => {
          if (nodes.get(node.id) !== node) return []; // forgotten since (maybe back as a new node)
          const bits = node.changes;
          const reports = bits & NEW
            ? "all"
            : REPORT_BITS.filter(([, bit]) => bits & bit).map(([name]) => name);
          return [{ node, reports }];
        }),
        removed: [...removed],
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
        ...counters,
        blocks_dropped: counters.blocks_dropped + dropped,
        blocks_replaced: replaced,
      };
    },
  };
}
