/**
 * The browser feed of the web dashboard: a full snapshot when a page connects, then at most one
 * frame per flush interval with only the nodes that changed since the previous flush, and of
 * those only the reports that changed — built and serialized once for every client. The snapshot
 * is built at most once per flush interval, however many pages connect, a few milliseconds at a
 * time between turns of the event loop (at 20,000 nodes it is tens of MB: built in one go it held
 * every agent's report for 150–200 ms), and a long one goes out in parts through each client's
 * outbox: a page that does not read holds about one part in Deno, not a copy of the snapshot. A
 * client that does not keep up is closed.
 */
import {
  createFeedClient,
  dropClient,
  type FeedClient,
  type FeedSocket,
  keepsUp,
  utf8Length,
} from "../http/websocket.ts";
import type { Fork } from "./chain.ts";
import { createFairShare } from "./fair_share.ts";
import type { BlockEntry } from "./block_ring.ts";
import type { NodeChange, NodeState } from "./nodes.ts";
import type { WebState } from "./state.ts";

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

/** A text frame and its UTF-8 size. */
interface Frame {
  text: string;
  bytes: number;
}

/** A snapshot's frames as they go out, and their UTF-8 size in all. */
interface Snapshot {
  frames: Frame[];
  bytes: number;
}

/** Wall time a snapshot build works before it lets the event loop run (ms). */
export const BUILD_SLICE_MS = 5;

export interface FeedOptions {
  /** Unsent bytes a client may have queued before it is closed as too slow. */
  maxClientBufferBytes: number;
  /** Connected pages at most; more are refused with 503. */
  maxClients: number;
  /** Settings the page needs (flush interval, removal time, ring size). */
  settings: Record<string, number>;
  /** Wall time a snapshot build works before it yields (default BUILD_SLICE_MS; 0: one node per turn). */
  buildSliceMs?: number;
  now?: () => number;
}

/** The set of connected pages. */
export interface Feed {
  /** Whether another page may connect (pages waiting for their snapshot count). */
  readonly full: boolean;
  /**
   * Whether a page from `address` may connect: when full, the oldest page of the address holding
   * the most takes its leave for it, if that address holds two more (fair_share.ts).
   */
  makeRoom(address: string): boolean;
  /**
   * Sends the snapshot to a freshly opened socket (of a page from `address`) and adds it to the
   * flushes: at once when this flush interval's snapshot is built, else once the build it joins
   * (or starts) is done, followed by the updates flushed meanwhile.
   */
  open(socket: FeedSocket, address?: string): void;
  /** Resolves once no snapshot is being built. */
  built(): Promise<void>;
  /**
   * Sends one frame with the state's changes since the last flush to every page (nothing when
   * there are none; without pages they are discarded), and lets the next page get a new snapshot.
   */
  flush(): void;
  /** Closes every page with 1001 and refuses new ones. */
  close(): void;
  stats(): {
    clients: number;
    /** Pages waiting for the snapshot being built. */
    clients_waiting: number;
    frames_sent: number;
    clients_closed_slow: number;
    /** Pages closed to make room for a page from an address holding fewer. */
    clients_evicted: number;
    snapshot_bytes: number;
    snapshots_built: number;
  };
}

/** A feed client; its allowance starts at the limit plus its snapshot. */
type Client = FeedClient;

/**
 * A snapshot being built: the pages waiting for it, and the update frames flushed since it
 * started (they follow the snapshot, as some of its nodes were serialized before those changes).
 */
interface Build {
  /** The pages waiting, with their addresses. */
  waiting: Map<FeedSocket, string>;
  updates: Frame[];
  done: PromiseWithResolvers<void>;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Puts a snapshot's pieces (head, node texts, tail) into frames of about `partChars`, each
 * piece whole, with their UTF-8 sizes counted as pieces come (a build adds them slice by slice).
 */
export function createFramer(partChars: number) {
  const parts: Frame[] = [];
  let text = "";
  let bytes = 0;
  return {
    add(piece: string): void {
      if (text.length > 0 && text.length + piece.length > partChars) {
        parts.push({ text, bytes });
        text = "";
        bytes = 0;
      }
      text += piece;
      bytes += utf8Length(piece);
    },
    /** One frame when it all fits, else a `parts` header and the parts. */
    finish(): Snapshot {
      if (parts.length === 0) return { frames: [{ text, bytes }], bytes };
      parts.push({ text, bytes });
      const header = JSON.stringify({ type: "parts", count: parts.length });
      const total = parts.reduce((n, p) => n + p.bytes, header.length);
      return { frames: [{ text: header, bytes: header.length }, ...parts], bytes: total };
    },
  };
}

/** Creates the feed over a dashboard state. */
export function createFeed(state: WebState, options: FeedOptions): Feed {
  const now = options.now ?? Date.now;
  const limit = options.maxClientBufferBytes;
  const sliceMs = options.buildSliceMs ?? BUILD_SLICE_MS;
  const clients = new Set<Client>();
  /** The pages by address, for the room a page from another address may take. */
  const share = createFairShare<Client>();
  let closed = false;
  const counters = {
    frames_sent: 0,
    clients_closed_slow: 0,
    clients_evicted: 0,
    snapshot_bytes: 0,
    snapshots_built: 0,
  };
  /**
   * The snapshot pages get until the next flush, with the updates flushed while it was built: a
   * page that connects later gets the changes since then in that flush's update, like the others.
   */
  let cached: { snapshot: Snapshot; updates: Frame[] } | undefined;
  let building: Build | undefined;
  const isFull = () => closed || clients.size + (building?.waiting.size ?? 0) >= options.maxClients;

  /** No longer among the pages (closed, or closing: one that does not read closes once it reads). */
  function forget(client: Client): void {
    clients.delete(client);
    share.remove(client);
  }

  function drop(client: Client, code: number, reason: string): void {
    forget(client);
    dropClient(client, code, reason);
  }

  function send(client: Client, text: string, bytes: number): boolean {
    if (!client.out.send(text, bytes)) {
      forget(client);
      return false;
    }
    counters.frames_sent++;
    return true;
  }

  /** Hands a page its snapshot and the updates since, then adds it to the flushes. */
  function deliver(
    socket: FeedSocket,
    address: string,
    { snapshot, updates }: NonNullable<typeof cached>,
  ): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    const burst = updates.reduce((n, u) => n + u.bytes, snapshot.bytes);
    const client = createFeedClient(socket, limit, burst, now());
    for (const frame of [...snapshot.frames, ...updates]) if (!send(client, frame.text, frame.bytes)) return;
    if (socket.readyState !== WebSocket.OPEN) return;
    clients.add(client);
    share.add(address, client);
    socket.addEventListener("close", () => forget(client));
    socket.addEventListener("error", () => forget(client));
  }

  /**
   * Builds the snapshot BUILD_SLICE_MS at a time: the nodes known when it starts, each serialized
   * (and put in its part) as it is when its turn comes (a node removed meanwhile goes in, and its
   * removal follows in an update); blocks, histogram and chain at the end. The text is what one
   * JSON.stringify of the snapshot object would make. A small one is done within `open`.
   */
  function build(): Build {
    const job: Build = { waiting: new Map(), updates: [], done: Promise.withResolvers<void>() };
    building = job;
    const nodes = [...state.nodes()];
    const framer = createFramer(SNAPSHOT_PART_CHARS);
    const head = JSON.stringify({ type: "snapshot", now: now(), settings: options.settings });
    framer.add(`${head.slice(0, -1)},"nodes":[`);
    let next = 0;
    const step = () => {
      job.timer = undefined;
      const started = performance.now();
      while (next < nodes.length) {
        const text = JSON.stringify(pageView(nodes[next]!));
        framer.add(next++ === 0 ? text : `,${text}`);
        if (performance.now() - started >= sliceMs) break;
      }
      if (next < nodes.length) {
        job.timer = setTimeout(step, 0);
        return;
      }
      const tail = JSON.stringify({
        blocks: pageBlocks(state.blocks(PAGE_BLOCKS)),
        propagation: state.propagation(),
        chain: chainView(state),
      });
      framer.add(`],${tail.slice(1)}`);
      finish(job, framer.finish());
    };
    step();
    return job;
  }

  function finish(job: Build, snapshot: Snapshot): void {
    counters.snapshot_bytes = snapshot.bytes;
    counters.snapshots_built++;
    building = undefined;
    cached = { snapshot, updates: job.updates };
    for (const [socket, address] of job.waiting) deliver(socket, address, cached);
    job.done.resolve();
  }

  return {
    get full() {
      return isFull();
    },
    makeRoom(address) {
      if (!isFull()) return true;
      const victim = closed ? undefined : share.victimFor(address);
      if (victim === undefined) return false;
      counters.clients_evicted++;
      drop(victim, 1008, "room needed for a page from another address");
      return true;
    },
    open(socket, address = "") {
      if (closed) {
        socket.close(1001, "server shutting down");
        return;
      }
      if (cached !== undefined) return deliver(socket, address, cached);
      const job = building ?? build();
      if (job !== building) return deliver(socket, address, cached!); // built within this call
      job.waiting.set(socket, address);
      const leave = () => job.waiting.delete(socket);
      socket.addEventListener("close", leave);
      socket.addEventListener("error", leave);
    },
    built() {
      return building?.done.promise ?? Promise.resolve();
    },
    flush() {
      cached = undefined;
      if (clients.size === 0 && building === undefined) {
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
      if (
        changes.nodes.length === 0 && changes.removed.length === 0 && changes.blocks.length === 0 &&
        changes.dropBlocksAbove === null
      ) return;
      const text = JSON.stringify({
        type: "update",
        now: at,
        nodes: changes.nodes.map(changeView),
        removed: changes.removed,
        blocks: pageBlocks(changes.blocks),
        ...(changes.dropBlocksAbove === null ? {} : { dropBlocksAbove: changes.dropBlocksAbove }),
        // Only with new blocks or node changes: the histogram moves with block reports.
        propagation: state.propagation(),
        chain: chainView(state),
      });
      const bytes = utf8Length(text);
      building?.updates.push({ text, bytes });
      for (const client of [...clients]) send(client, text, bytes);
    },
    close() {
      closed = true;
      if (building !== undefined) {
        clearTimeout(building.timer);
        for (const socket of building.waiting.keys()) socket.close(1001, "server shutting down");
        building.done.resolve();
        building = undefined;
      }
      for (const client of [...clients]) drop(client, 1001, "server shutting down");
    },
    stats() {
      return { clients: clients.size, clients_waiting: building?.waiting.size ?? 0, ...counters };
    },
  };
}
