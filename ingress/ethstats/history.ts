/**
 * History backfill for ethstats networks: which recent blocks a network lacks, and which node to
 * ask for them. eth-netstats asks every node for its history; this asks one node per network at a
 * time, in chunks, and only for blocks nobody reported.
 */

/** A node that can be asked for history (an ethstats connection). */
export interface HistoryPeer {
  /**
   * `hello.id` and the user it logged in as (null: the shared secret): a node's reconnections are
   * one node (how many blocks it is asked at a time); another user claiming its id is another.
   */
  readonly agentId: string;
  readonly user: string | null;
  /** `hello.info.net`: nodes of one network share a record. */
  readonly net: string;
  /** The highest block number the node reported; null before its first block. */
  readonly headBlock: number | null;
  /** `hello.info.canUpdateHistory` (go-ethereum says true; Nethermind false, yet answers). */
  readonly canUpdateHistory: boolean;
  /**
   * The node's latest `stats` said it is not syncing and has peers: eth-netstats asks such a node
   * for history whatever its hello said (`Node.canUpdate`), and Nethermind, which says
   * `canUpdateHistory: false`, answers.
   */
  readonly synced: boolean;
}

export interface HistoryOptions {
  /** Blocks below a network's head that are filled in; 0 turns backfill off. */
  limit: number;
  /** An unanswered request frees its network for another node after this (ms). */
  timeoutMs: number;
  /**
   * Networks remembered; the one reported on least recently is forgotten beyond it (default 1,024):
   * a node may name any `info.net`, and 1,100 made-up names had the busiest network's record
   * forgotten (its window asked again) when the oldest created went first.
   */
  maxNetworks?: number;
  /** Nodes asked fewer blocks at a time remembered (default 10,000; the oldest forgotten beyond). */
  maxSmallerChunks?: number;
  /**
   * A network whose head no node has reported within this long (default 300,000 ms) starts again
   * from a block reported far below it: its chain restarted (a dev or test network keeping its
   * network id). Before, its record kept the old head, and nothing below it was ever asked.
   */
  restartAfterMs?: number;
}

/** Numbers a node is asked for, or null when there is nothing to ask it. */
export type HistoryRequest = number[] | null;

/** A block as the backfill reads it: its number, and its hash and parent's when it has them. */
export interface BlockLink {
  number: number;
  hash: string | null;
  parentHash: string | null;
}

export interface HistoryBackfill<P extends HistoryPeer> {
  /** `peer` reported `block` (its `headBlock` already updated): what to ask it for now. */
  block(peer: P, block: BlockLink, now: number): HistoryRequest;
  /**
   * `peer` sent `blocks` in a history reply. When it was the peer asked, what it did not send it
   * lacks: it is not asked for those again, other nodes are, and a number lacked by the nodes of
   * LACKING_VOTES users (or by LACKING_NODES nodes) is settled as missing; the next chunk, if any,
   * is returned.
   */
  history(peer: P, blocks: readonly BlockLink[], now: number): HistoryRequest;
  /** The peer is gone: a request outstanding with it frees its network at once. */
  forget(peer: P): void;
  /**
   * The peer sent a frame too large to take while asked (go-ethereum sends the asked blocks whole,
   * every transaction hash; Besu every transaction whole): that node (by user and agent id, its next
   * logins too) is asked half as many blocks at a time from then on (10, 5, 2, 1); a single block
   * too large to take counts as answered without, and the node is asked no more. Before, each
   * login was asked 10 blocks again (the gap its reconnection left), the node dropped each time.
   */
  unanswerable(peer: P): void;
  stats(): {
    history_requests: number;
    history_timeouts: number;
    history_reorganisations: number;
    history_restarts: number;
  };
}

/** A node across its logins: its user and `hello.id`. */
const nodeKey = (peer: HistoryPeer) => `${peer.user ?? ""}\n${peer.agentId}`;

/** Block numbers asked for in one request (go-ethereum answers each with a whole block). */
export const HISTORY_CHUNK = 10;
/**
 * A number is settled as missing (no node is asked for it any more) once the nodes of this many
 * users answered without it (the shared secret's nodes each count as one), or this many nodes
 * did (a fleet under one user). Before, the first node's answer settled it: one user's node that
 * reported the head first and answered every request with `{"history": []}` kept a network's
 * gaps empty, its honest nodes never asked (attacker trial).
 */
export const LACKING_VOTES = 3;
export const LACKING_NODES = 16;

/** Who answered without a number: nodes (nodeKey), and the users (or shared-secret nodes) they count as. */
interface Lacking {
  nodes: Set<string>;
  votes: Set<string>;
}

/** What is known of one network's recent blocks: numbers in `[head - limit, head]`. */
interface ChainRecord<P> {
  /** The highest block number reported on this network. */
  head: number;
  /** When a node last reported a block within the window below `head` (ms). */
  headSeenAt: number;
  /**
   * Numbers in the window the network has (with the hash last reported there), or asked for and
   * answered without (null). A block whose parent hash is not the one kept below it tells of a
   * reorganisation: that number is asked again (go-ethereum reports only its new head, not the
   * blocks it replaced; the web dashboard takes the answers in place of the dead branch's).
   */
  settled: Map<number, string | null>;
  /**
   * Numbers asked again for a broken parent link, each once while in the window: two branches
   * that both go on (a lasting fork) would otherwise have each other's blocks asked for ever.
   */
  reasked: Set<number>;
  /** Numbers in the window that nodes answered without, and who (not settled yet). */
  lacking: Map<number, Lacking>;
  /** `head` when a scan of the whole window found nothing missing (skips rescans). */
  completeAt: number;
  /** The one outstanding request of this network. */
  asked: { peer: P; list: number[]; deadline: number } | null;
}

/** Creates the backfill planner; the caller sends what it returns as `{"emit":["history",{list}]}`. */
export function createHistoryBackfill<P extends HistoryPeer>(options: HistoryOptions): HistoryBackfill<P> {
  const { limit, timeoutMs } = options;
  const maxNetworks = options.maxNetworks ?? 1024;
  const maxSmallerChunks = options.maxSmallerChunks ?? 10_000;
  const restartAfterMs = options.restartAfterMs ?? 300_000;
  /** Blocks asked at a time of nodes whose answer was too large (nodeKey → count; oldest first). */
  const smallerChunks = new Map<string, number>();
  /** Least recently reported on first (a report moves its network to the end). */
  const chains = new Map<string, ChainRecord<P>>();
  const counters = {
    history_requests: 0,
    history_timeouts: 0,
    history_reorganisations: 0,
    history_restarts: 0,
  };

  function chainOf(net: string): ChainRecord<P> {
    let chain = chains.get(net);
    if (chain === undefined) {
      chain = newChain();
      if (chains.size >= maxNetworks) chains.delete(chains.keys().next().value!);
    } else chains.delete(net);
    chains.set(net, chain); // now the most recently reported on
    return chain;
  }

  function newChain(): ChainRecord<P> {
    return {
      head: -1,
      headSeenAt: 0,
      settled: new Map(),
      lacking: new Map(),
      reasked: new Set(),
      completeAt: -1,
      asked: null,
    };
  }

  /** A node's own block: the network's head seen, or its chain restarted far below a stale head. */
  function reported(net: string, n: number, now: number): ChainRecord<P> {
    let chain = chainOf(net);
    if (n >= chain.head - limit) chain.headSeenAt = now;
    else if (now - chain.headSeenAt >= restartAfterMs) {
      chain = newChain();
      chain.headSeenAt = now;
      chains.set(net, chain);
      counters.history_restarts++;
    }
    return chain;
  }

  /** Records that the network has block `n`, sliding its window when `n` is a new head. */
  function note(chain: ChainRecord<P>, n: number, hash: string | null): void {
    if (n > chain.head) {
      // One new head on a complete window leaves it complete; a jump needs a rescan.
      if (chain.completeAt === chain.head && n === chain.head + 1) chain.completeAt = n;
      chain.head = n;
      const low = n - limit;
      for (const k of chain.settled.keys()) if (k < low) chain.settled.delete(k);
      for (const k of chain.lacking.keys()) if (k < low) chain.lacking.delete(k);
      for (const k of chain.reasked) if (k < low) chain.reasked.delete(k);
    }
    if (n >= chain.head - limit) {
      chain.settled.set(n, hash ?? chain.settled.get(n) ?? null);
      chain.lacking.delete(n);
    }
  }

  /** The block kept below `block` is not its parent: a reorganisation, that number asked again. */
  function checkParent(chain: ChainRecord<P>, block: BlockLink): void {
    const below = chain.settled.get(block.number - 1);
    if (typeof below !== "string" || block.parentHash === null || below === block.parentHash) return;
    if (chain.reasked.has(block.number - 1)) return;
    chain.reasked.add(block.number - 1);
    chain.settled.delete(block.number - 1);
    chain.lacking.delete(block.number - 1); // another block now: every node may have it
    chain.completeAt = -1;
    counters.history_reorganisations++;
  }

  /**
   * Up to HISTORY_CHUNK numbers the network lacks, the newest chosen first (listed ascending, as
   * eth-netstats lists them), among the `limit` below its
   * head and at or below the peer's own head; at most one request per network is outstanding
   * (until answered, its peer is forgotten, or `timeoutMs`). Never an empty list: go-ethereum
   * reads one as "send your latest 50", whatever the server already has.
   */
  function ask(peer: P, chain: ChainRecord<P>, now: number): HistoryRequest {
    if (!(peer.canUpdateHistory || peer.synced) || peer.headBlock === null) return null;
    if (chain.completeAt === chain.head) return null;
    if (chain.asked !== null) {
      if (chain.asked.deadline > now) return null;
      counters.history_timeouts++;
      chain.asked = null;
    }
    const top = Math.min(peer.headBlock, chain.head);
    const low = Math.max(0, chain.head - limit);
    const list: number[] = [];
    const key = nodeKey(peer);
    const chunk = smallerChunks.get(key) ?? HISTORY_CHUNK;
    if (chunk === 0) return null; // even one block of its was over the frame limit
    let lackedHere = false;
    for (let n = top; n >= low && list.length < chunk; n--) {
      if (chain.settled.has(n)) continue;
      if (chain.lacking.get(n)?.nodes.has(key)) lackedHere = true; // others may have it
      else list.push(n);
    }
    if (list.length === 0) {
      if (top === chain.head && !lackedHere) chain.completeAt = chain.head;
      return null;
    }
    list.reverse();
    chain.asked = { peer, list, deadline: now + timeoutMs };
    counters.history_requests++;
    return list;
  }

  /**
   * The outstanding request is over: what it asked for (still in the window) and did not get, its
   * node lacks; settled as missing once nodes enough lacked it (LACKING_VOTES, LACKING_NODES).
   */
  function lackAsked(chain: ChainRecord<P>): void {
    const peer = chain.asked!.peer;
    const key = nodeKey(peer);
    for (const n of chain.asked!.list) {
      if (n < chain.head - limit || chain.settled.has(n)) continue;
      let lack = chain.lacking.get(n);
      if (lack === undefined) chain.lacking.set(n, lack = { nodes: new Set(), votes: new Set() });
      lack.nodes.add(key);
      lack.votes.add(peer.user === null ? key : peer.user);
      if (lack.votes.size >= LACKING_VOTES || lack.nodes.size >= LACKING_NODES) {
        chain.settled.set(n, null);
        chain.lacking.delete(n);
      }
    }
    chain.asked = null;
  }

  return {
    block(peer, block, now) {
      if (limit <= 0) return null;
      const chain = reported(peer.net, block.number, now);
      note(chain, block.number, block.hash);
      checkParent(chain, block);
      return ask(peer, chain, now);
    },
    history(peer, blocks, now) {
      if (limit <= 0) return null;
      const chain = chainOf(peer.net);
      // Blocks of a history reply are old ones: they fill the window, never move its head (only
      // a node's own block reports do), so an unasked reply of a block far ahead cannot slide
      // every node's backfill out of reach.
      const old = blocks.filter((b) => b.number <= chain.head);
      for (const b of old) note(chain, b.number, b.hash);
      const asked = chain.asked?.peer === peer;
      if (asked) lackAsked(chain);
      for (const b of old) checkParent(chain, b);
      return asked ? ask(peer, chain, now) : null;
    },
    forget(peer) {
      const chain = chains.get(peer.net);
      if (chain?.asked?.peer === peer) chain.asked = null;
    },
    unanswerable(peer) {
      const chain = chains.get(peer.net);
      if (chain?.asked?.peer !== peer) return;
      const asked = chain.asked.list.length;
      // One block over the frame limit: that node lacks it (it cannot send it smaller), and is
      // asked for no more history (0 at a time): each of its blocks would drop it once more.
      if (asked === 1) lackAsked(chain);
      else chain.asked = null;
      smallerChunks.delete(nodeKey(peer));
      smallerChunks.set(nodeKey(peer), Math.floor(asked / 2));
      if (smallerChunks.size > maxSmallerChunks) smallerChunks.delete(smallerChunks.keys().next().value!);
    },
    stats: () => ({ ...counters }),
  };
}
