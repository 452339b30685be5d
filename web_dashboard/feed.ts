/**
 * The browser feed of the web dashboard: a full snapshot when a page connects, then at most one
 * frame per flush interval with only the nodes that changed since the previous flush, and of
 * those only the reports that changed — built and serialized once for every client. The snapshot
 * is built at most once per flush interval, however many pages connect, and a long one goes out
 * in parts through each client's outbox: a page that does not read holds about one part in Deno,
 * not a copy of the snapshot. A client that does not keep up is closed.
 */
import { createFeedClient, dropClient, type FeedClient, keepsUp, utf8Length } from "../http/websocket.ts";
import type { Fork } from "./chain.ts";
import type { BlockEntry } from "./block_ring.ts";
import type { NodeChange, NodeState, WebState } from "./state.ts";

/** A node as the feed and the read API show it; `T` is the time type (epoch ms or ISO). */
export interface NodeView<T> {
  id: string;
  active: boolean;
  firstSeen: T;
  lastSeen: T;
  inactiveSince: T | null;
  blockReceivedAt: T | null;
  propagation: NodeState["propagation"];
  behindSince: T | null;
  /** Where its address is (the map); null when unknown, private or the map is off. */
  location: NodeState["location"];
  last: NodeState["last"];
}

/** A node with times in epoch milliseconds (feed) or ISO strings (read API). */
export function nodeView<T>(node: NodeState, time: (ms: number) => T): NodeView<T> {
  return {
    id: node.id,
    active: node.active,
    firstSeen: time(node.firstSeen),
    lastSeen: time(node.lastSeen),
    inactiveSince: node.inactiveSince === null ? null : time(node.inactiveSince),
    blockReceivedAt: node.blockReceivedAt === null ? null : time(node.blockReceivedAt),
    propagation: node.propagation,
    behindSince: node.behindSince === null ? null : time(node.behindSince),
    location: node.location,
    last: node.last,
  };
}

const epochMs = (ms: number) => ms;

/**
 * Blocks a page holds at most (its charts show 40, the miners and uncle tiles 50+); the service
 * may keep many more for the read API and the histogram.
 */
export const PAGE_BLOCKS = 200;

/** The highest PAGE_BLOCKS of `blocks`, as the feed shows them. */
function pageBlocks(blocks: BlockEntry[]) {
  const top = blocks.length <= PAGE_BLOCKS ? blocks : [...blocks].sort((a, b) => b.number - a.number)
    .slice(0, PAGE_BLOCKS);
  return top.map((b) => blockView(b, epochMs));
}

/** The chain's health as the feed and the read API show it: best block and forks. */
export function chainView(state: WebState): { best: number | null; forks: Fork[] } {
  const { best, forks } = state.chain();
  return { best, forks };
}

/**
 * A node's block as the page gets it: its number only. The block's other fields are in the feed's
 * `blocks` once, not in every node that reports it (at 10,000 nodes each block would be sent 10,000
 * times), and forks come computed in `chain`; the read API keeps the whole summary.
 */
const pageBlockOf = new WeakMap<object, { number: unknown }>();

function pageLast(last: NodeState["last"]): NodeState["last"] {
  const block = last.block;
  if (block === undefined) return last;
  let small = pageBlockOf.get(block);
  if (small === undefined) pageBlockOf.set(block, small = { number: block["number"] });
  return { ...last, block: small as Record<string, string | number> };
}

/** A node as the pages get it (feed snapshot): times in epoch ms, the block reduced. */
function pageView(node: NodeState): NodeView<number> {
  const view = nodeView(node, epochMs);
  return { ...view, last: pageLast(view.last) };
}

/**
 * A changed node in an update frame: `full` with every report for a node the pages may not know,
 * else only the reports that changed (the page merges them into what it has).
 */
function changeView(
  change: NodeChange,
): Omit<NodeView<number>, "location"> & { location?: NodeState["location"]; full: boolean } {
  if (change.reports === "all") return { ...pageView(change.node), full: true };
  const { location, ...view } = nodeView(change.node, epochMs);
  const last: NodeState["last"] = {};
  for (const type of change.reports) Object.assign(last, { [type]: change.node.last[type] });
  // The location changes only with the address, and then comes as an `information` change.
  return change.reports.includes("information")
    ? { ...view, location, last: pageLast(last), full: false }
    : { ...view, last: pageLast(last), full: false };
}

/** A block as the feed and the read API show it (times in epoch ms or ISO). */
export function blockView<T>(block: BlockEntry, time: (ms: number) => T): Omit<BlockEntry, "firstSeen"> & {
  firstSeen: T;
} {
  return { ...block, firstSeen: time(block.firstSeen) };
}

/**
 * Characters per part of a snapshot longer than this: it goes out as `{"type":"parts","count":n}`
 * followed by n text frames that the page joins and parses as the snapshot.
 */
export const SNAPSHOT_PART_CHARS = 256 * 1024;

/** A snapshot's frames as they go out, and their UTF-8 size in all. */
interface Snapshot {
  frames: Array<{ text: string; bytes: number }>;
  bytes: number;
}

/** `text` as one frame, or a `parts` header and slices that never split a surrogate pair. */
export function snapshotFrames(text: string, partChars = SNAPSHOT_PART_CHARS): Snapshot {
  if (text.length <= partChars) {
    const bytes = utf8Length(text);
    return { frames: [{ text, bytes }], bytes };
  }
  const parts: Array<{ text: string; bytes: number }> = [];
  let bytes = 0;
  for (let start = 0; start < text.length;) {
    let end = Math.min(text.length, start + partChars);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    const part = text.slice(start, end);
    const size = utf8Length(part);
    parts.push({ text: part, bytes: size });
    bytes += size;
    start = end;
  }
  const header = JSON.stringify({ type: "parts", count: parts.length });
  return { frames: [{ text: header, bytes: header.length }, ...parts], bytes: bytes + header.length };
}

export interface FeedOptions {
  /** Unsent bytes a client may have queued before it is closed as too slow. */
  maxClientBufferBytes: number;
  /** Connected pages at most; more are refused with 503. */
  maxClients: number;
  /** Settings the page needs (flush interval, removal time, ring size). */
  settings: Record<string, number>;
  now?: () => number;
}

/** The set of connected pages. */
export interface Feed {
  /** Whether another page may connect. */
  readonly full: boolean;
  /** Sends the snapshot to a freshly opened socket and adds it to the flushes. */
  open(socket: WebSocket): void;
  /**
   * Sends one frame with the state's changes since the last flush to every page (nothing when
   * there are none; without pages they are discarded), and lets the next page get a new snapshot.
   */
  flush(): void;
  /** Closes every page with 1001 and refuses new ones. */
  close(): void;
  stats(): {
    clients: number;
    frames_sent: number;
    clients_closed_slow: number;
    snapshot_bytes: number;
    snapshots_built: number;
  };
}

/** A feed client; its allowance starts at the limit plus its snapshot. */
type Client = FeedClient;

/** Creates the feed over a dashboard state. */
export function createFeed(state: WebState, options: FeedOptions): Feed {
  const now = options.now ?? Date.now;
  const limit = options.maxClientBufferBytes;
  const clients = new Set<Client>();
  let closed = false;
  const counters = { frames_sent: 0, clients_closed_slow: 0, snapshot_bytes: 0, snapshots_built: 0 };
  /**
   * The snapshot pages get until the next flush: a page that connects later gets the changes
   * since it was built in that flush's update, like a page that connected when it was built.
   */
  let cached: Snapshot | undefined;

  function drop(client: Client, code: number, reason: string): void {
    clients.delete(client);
    dropClient(client, code, reason);
  }

  function send(client: Client, text: string, bytes: number): boolean {
    if (!client.out.send(text, bytes)) {
      clients.delete(client);
      return false;
    }
    counters.frames_sent++;
    return true;
  }

  function snapshot(): Snapshot {
    if (cached !== undefined) return cached;
    const nodes = [];
    for (const node of state.nodes()) nodes.push(pageView(node));
    cached = snapshotFrames(JSON.stringify({
      type: "snapshot",
      now: now(),
      settings: options.settings,
      nodes,
      blocks: pageBlocks(state.blocks(PAGE_BLOCKS)),
      propagation: state.propagation(),
      chain: chainView(state),
    }));
    counters.snapshot_bytes = cached.bytes;
    counters.snapshots_built++;
    return cached;
  }

  return {
    get full() {
      return closed || clients.size >= options.maxClients;
    },
    open(socket) {
      if (closed) {
        socket.close(1001, "server shutting down");
        return;
      }
      const { frames, bytes } = snapshot();
      const client = createFeedClient(socket, limit, bytes, now());
      for (const frame of frames) if (!send(client, frame.text, frame.bytes)) return;
      if (socket.readyState === WebSocket.OPEN) clients.add(client);
      socket.addEventListener("close", () => clients.delete(client));
      socket.addEventListener("error", () => clients.delete(client));
    },
    flush() {
      cached = undefined;
      if (clients.size === 0) {
        state.discardChanges();
        return;
      }
      // At every flush, changes or not: a page that does not read is closed once past its limit.
      const at = now();
      for (const client of [...clients]) {
        if (keepsUp(client, limit, at)) continue;
        counters.clients_closed_slow++;
        drop(client, 1008, "client too slow: not reading");
      }
      const changes = state.takeChanges();
      if (changes.nodes.length === 0 && changes.removed.length === 0 && changes.blocks.length === 0) return;
      const text = JSON.stringify({
        type: "update",
        now: at,
        nodes: changes.nodes.map(changeView),
        removed: changes.removed,
        blocks: pageBlocks(changes.blocks),
        // Only with new blocks or node changes: the histogram moves with block reports.
        propagation: state.propagation(),
        chain: chainView(state),
      });
      const bytes = utf8Length(text);
      for (const client of [...clients]) send(client, text, bytes);
    },
    close() {
      closed = true;
      for (const client of [...clients]) drop(client, 1001, "server shutting down");
    },
    stats() {
      return { clients: clients.size, ...counters };
    },
  };
}
