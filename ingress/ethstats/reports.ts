/**
 * What a logged-in node may emit, and what each report becomes: a payload is read (the fast
 * path of `canonical.ts` when it is already in canonical form, else its schema in `frames.ts`),
 * then published as the body the original agent sends on `/data` (`ethereum_metrics`, type and
 * body), or answered (`node-pong`). The socket's life (login, limits, timeouts) is `routes.ts`'s.
 */
import type { z } from "zod";
import type { BlockLink } from "./history.ts";
import {
  canonicalBlockPayload,
  canonicalLatencyPayload,
  canonicalNodePingPayload,
  canonicalPendingPayload,
  canonicalStatsPayload,
} from "./canonical.ts";
import {
  blockPayload,
  historyBlocks,
  historyPayload,
  latencyPayload,
  newPayloadPayload,
  nodePingPayload,
  pendingPayload,
  safeBlockNumber,
  statisticsBody,
  statsPayload,
} from "./frames.ts";

/** A block's number (safe), hash and parent hash, for the history backfill. */
function linkOf(block: Record<string, unknown>, number: number): BlockLink {
  const { hash, parentHash } = block;
  return {
    number,
    hash: typeof hash === "string" ? hash : null,
    parentHash: typeof parentHash === "string" ? parentHash : null,
  };
}

/** What the handlers need to know of a node's socket. */
export interface ReportingNode {
  /** The highest block number this socket reported (for `syncing: true`); kept up to date by `blocks`. */
  headBlock: number | null;
  /** Its latest `stats` said: not syncing, with peers (history.ts asks such a node). */
  synced: boolean;
}

/** What the handlers do with a report. */
export interface ReportSink<N extends ReportingNode> {
  /** Publishes one report of the node as the original agent's `{type, body}`. */
  publish(node: N, type: string, body: Record<string, unknown>): void;
  /** Sends the node a frame (the answer to node-ping). */
  send(node: N, frame: string): void;
  /** The kept copy of an equal block reported by another node, else the block itself. */
  share<B extends Record<string, unknown>>(block: B): B;
  /** Blocks the node reported: one `block`, or those of a `history` reply with a safe number. */
  blocks(node: N, blocks: BlockLink[], fromHistory: boolean): void;
  /** Entries of a history reply that were not blocks, skipped. */
  skipped(count: number): void;
}

/** A report handler: false when its payload is malformed (nothing was published). */
export type ReportHandler<N> = (node: N, raw: unknown) => boolean;

/** A payload's reader: the canonical fast path, else the schema; undefined when malformed. */
function reader<S extends z.ZodType>(
  schema: S,
  canonical?: (raw: unknown) => z.output<S> | undefined,
): (raw: unknown) => z.output<S> | undefined {
  return (raw) => {
    const fast = canonical?.(raw);
    if (fast !== undefined) return fast;
    const parsed = schema.safeParse(raw);
    return parsed.success ? parsed.data : undefined;
  };
}

function on<N, T>(
  read: (raw: unknown) => T | undefined,
  handle: (node: N, value: T) => void,
): ReportHandler<N> {
  return (node, raw) => {
    const value = read(raw);
    if (value === undefined) return false;
    handle(node, value);
    return true;
  };
}

/** The node's `node-pong` to a `node-ping`. */
export function nodePong(clientTime: string | number, now: number): string {
  return JSON.stringify({ emit: ["node-pong", { clientTime, serverTime: now }] });
}

/** The report handlers by event name (`hello` is the login's, not here). */
export function createReportHandlers<N extends ReportingNode>(
  sink: ReportSink<N>,
): Map<string, ReportHandler<N>> {
  return new Map<string, ReportHandler<N>>([
    [
      "node-ping",
      on(reader(nodePingPayload, canonicalNodePingPayload), (node, { clientTime }) => {
        sink.send(node, nodePong(clientTime, Date.now()));
      }),
    ],
    [
      "latency",
      on(reader(latencyPayload, canonicalLatencyPayload), (node, { latency }) => {
        sink.publish(node, "latency", { latency });
      }),
    ],
    [
      "block",
      on(reader(blockPayload, canonicalBlockPayload), (node, payload) => {
        const block = sink.share(payload.block);
        const n = safeBlockNumber(block.number);
        if (n !== null) {
          node.headBlock = Math.max(node.headBlock ?? 0, n);
          sink.blocks(node, [linkOf(block, n)], false);
        }
        sink.publish(node, "block", block);
      }),
    ],
    [
      "pending",
      on(reader(pendingPayload, canonicalPendingPayload), (node, { stats }) => {
        sink.publish(node, "pending", { pending: stats.pending });
      }),
    ],
    [
      "stats",
      on(reader(statsPayload, canonicalStatsPayload), (node, { stats }) => {
        node.synced = stats.syncing === false && Number(stats.peers) > 0;
        sink.publish(node, "statistics", statisticsBody(stats, node.headBlock));
      }),
    ],
    [
      "history",
      on(reader(historyPayload), (node, payload) => {
        const read = historyBlocks(payload.history);
        sink.skipped(read.skipped);
        const blocks = read.blocks.map((b) => sink.share(b));
        sink.publish(node, "history", { history: blocks });
        const links: BlockLink[] = [];
        for (const block of blocks) {
          const n = safeBlockNumber(block.number);
          if (n !== null) links.push(linkOf(block, n));
        }
        sink.blocks(node, links, true);
      }),
    ],
    // Its own type: receivers select on `type` and pass it by; the dashboard feed forwards it.
    [
      "block_new_payload",
      on(reader(newPayloadPayload), (node, { block }) => {
        sink.publish(node, "block_new_payload", block);
      }),
    ],
  ]);
}
