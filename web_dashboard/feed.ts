/**
 * The browser feed of the web dashboard: a full snapshot when a page connects, then at most one
 * frame per flush interval with only the nodes that changed since the previous flush, and of
 * those only the reports that changed — built and serialized once for every client. A client
 * that does not keep up is closed.
 */
import { closeQuietly, type FeedClient, keepsUp, trySend } from "../http/websocket.ts";
import type { Fork } from "./chain.ts";
import type { BlockEntry } from "./block_ring.ts";
import type { Changes, NodeChange, NodeState, WebState } from "./state.ts";

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
  /** Sends one frame with `changes` to every page (nothing when there are none). */
  flush(changes: Changes): void;
  /** Closes every page with 1001 and refuses new ones. */
  close(): void;
  stats(): { clients: number; frames_sent: number; clients_closed_slow: number; snapshot_bytes: number };
}

/** A feed client; its allowance starts at the limit plus its snapshot. */
type Client = FeedClient;

/** Creates the feed over a dashboard state. */
export function createFeed(state: WebState, options: FeedOptions): Feed {
  const now = options.now ?? Date.now;
  const limit = options.maxClientBufferBytes;
  const clients = new Set<Client>();
  let closed = false;
  const counters = { frames_sent: 0, clients_closed_slow: 0, snapshot_bytes: 0 };

  function drop(client: Client, code: number, reason: string): void {
    clients.delete(client);
    closeQuietly(client.socket, code, reason);
  }

  function send(client: Client, text: string): boolean {
    if (!trySend(client.socket, text)) {
      clients.delete(client);
      return false;
    }
    counters.frames_sent++;
    return true;
  }

  function snapshot(): string {
    const nodes = [];
    for (const node of state.nodes()) nodes.push(pageView(node));
    return JSON.stringify({
      type: "snapshot",
      now: now(),
      settings: options.settings,
      nodes,
      blocks: pageBlocks(state.blocks(PAGE_BLOCKS)),
      propagation: state.propagation(),
      chain: chainView(state),
    });
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
      const text = snapshot();
      counters.snapshot_bytes = text.length;
      const client: Client = { socket, allowance: limit };
      if (!send(client, text)) return;
      // The snapshot may alone exceed the limit (thousands of nodes): tolerate it once.
      client.allowance = limit + new TextEncoder().encode(text).byteLength;
      if (socket.readyState === WebSocket.OPEN) clients.add(client);
      socket.addEventListener("close", () => clients.delete(client));
      socket.addEventListener("error", () => clients.delete(client));
    },
    flush(changes) {
      if (clients.size === 0) return;
      if (changes.nodes.length === 0 && changes.removed.length === 0 && changes.blocks.length === 0) return;
      const text = JSON.stringify({
        type: "update",
        now: now(),
        nodes: changes.nodes.map(changeView),
        removed: changes.removed,
        blocks: pageBlocks(changes.blocks),
        // Only with new blocks or node changes: the histogram moves with block reports.
        propagation: state.propagation(),
        chain: chainView(state),
      });
      for (const client of [...clients]) {
        if (!keepsUp(client, limit)) {
          counters.clients_closed_slow++;
          drop(client, 1008, "client too slow: not reading");
          continue;
        }
        send(client, text);
      }
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
