/**
 * The dashboard receiver (original `POABackend.Receivers.Dashboard`): a live websocket feed of every
 * message as `{"agent_id", "data"}`, replaying each agent's latest reports to a client when it connects.
 */
import { Hono } from "hono";
import { z } from "zod";
import { safeEqual } from "../auth/password.ts";
import type { AppEnv } from "../http/app_env.ts";
import { errorResponse } from "../http/errors.ts";
import {
  createAddressLimit,
  createFeedClient,
  dropClient,
  type FeedClient,
  keepsUp,
  upgradeSocket,
  utf8Length,
} from "../http/websocket.ts";
import { type Message, payloadType } from "../core/message.ts";
import type { Receiver, ReceiverType } from "../core/receiver.ts";
import { createReplayStore, type Frame } from "./dashboard_replay.ts";

const schema = z.object({
  /** Path of the websocket endpoint on the `dashboard` route group. */
  wsPath: z.string().startsWith("/").default("/ws"),
  /** The shared secret a client must present (header, subprotocol or query parameter). */
  /** Default: the service's dashboard secret (`POA_WS_SECRET`, else `data/ws-secret`). */
  wsSecret: z.string().min(1).optional(),
  /**
   * A client with more than this many bytes still unsent (Deno's own write queue, beyond what the
   * kernel socket buffers hold) is not reading: it is closed with 1008 and dropped.
   */
  maxClientBufferBytes: z.number().int().positive().default(1024 * 1024),
  /**
   * Websockets one client address may hold open (those being closed included); more are refused
   * with 429 before the upgrade. Raise it when every client comes through one proxy.
   */
  maxClientsPerAddress: z.number().int().positive().default(50),
  /** Payload types whose latest message per agent is replayed to a new client, in this order. */
  replayTypes: z.array(z.string().min(1)).default([
    "information",
    "statistics",
    "block",
    "pending",
    "latency",
  ]),
  /**
   * Metric types whose reports are replayed. The replay is keyed by payload type, and frames
   * carry no metric type (the original's `{agent_id, data}`), so another metric type's
   * `statistics` (system_metrics: `cpu_load`…) would replay as the node's Ethereum statistics;
   * reports of other subscribed types are forwarded live only.
   */
  replayMetrics: z.array(z.string().min(1)).default(["ethereum_metrics", "networking_metrics"]),
  /**
   * Bytes of frames kept for replay, over all agents (least recently heard-from agents are
   * forgotten beyond it), and the largest frame kept (a larger one goes out live only, and the
   * agent's previous one of its type is dropped). Worst case: maxReplayBytes, whatever the agents send
   * (a frame kept while no client is connected is weighed as its payload, until a client connects
   * and it is weighed as its JSON text, which escapes can make six times longer).
   */
  maxReplayBytes: z.number().int().positive().default(64 * 1024 * 1024),
  maxReplayFrameBytes: z.number().int().positive().default(256 * 1024),
  /** Agents remembered for replay; the least recently heard-from one is forgotten beyond it. */
  maxAgents: z.number().int().positive().default(50_000),
}).strict();

/** Validated dashboard options (defaults applied). */
export type DashboardOptions = z.infer<typeof schema>;

/** What a dashboard knows about one agent: the latest payload of each replayed type. */
export interface AgentSnapshot {
  agentId: string;
  /** Payload (`{type, body}`) by type, e.g. `last.statistics`. */
  last: Record<string, Record<string, unknown>>;
}

/** The dashboard receiver, with a read-only view of its state for other dashboards (web UI). */
export interface DashboardReceiver extends Receiver {
  routes: { group: "dashboard"; app: Hono<AppEnv> };
  /** Pushes the inactive statistics to every client and keeps them as the agent's last. */
  inactive(agentId: string): void;
  /** Closes every client (1001) and refuses new ones. */
  close(): void;
  /** Copies of the latest replayed payloads per agent, least recently updated agent first. */
  snapshot(): AgentSnapshot[];
  stats(): {
    clients: number;
    clients_closed_slow: number;
    clients_refused: number;
    sent_total: number;
    agents: number;
    replay_bytes: number;
    agents_evicted: number;
    replay_skipped_large: number;
    skipped_unserializable: number;
  };
}

/** Subprotocol prefix carrying the secret for browsers, which cannot set headers. */
const PROTOCOL_PREFIX = "wssecret.";

/** The payload pushed when an agent goes inactive. */
function inactivePayload(): Record<string, unknown> {
  return {
    type: "statistics",
    body: {
      active: false,
      mining: false,
      hashrate: 0,
      peers: 0,
      gasPrice: null,
      syncing: null,
      uptime: null,
    },
  };
}

/** Serializes one outgoing frame; undefined when `data` is not JSON (e.g. a BigInt). */
function serialize(agentId: string, data: Record<string, unknown>): string | undefined {
  try {
    return JSON.stringify({ agent_id: agentId, data });
  } catch {
    return undefined;
  }
}

/** The secret carriers a request presents, read before the upgrade (headers are gone after it). */
function presentedSecrets(req: Request): { header?: string; protocol?: string; query?: string } {
  const out: { header?: string; protocol?: string; query?: string } = {};
  const header = req.headers.get("wssecret");
  if (header !== null) out.header = header;
  const offered = req.headers.get("sec-websocket-protocol");
  const protocol = offered?.split(",").map((p) => p.trim()).find((p) => p.startsWith(PROTOCOL_PREFIX));
  if (protocol !== undefined) out.protocol = protocol;
  const query = new URL(req.url).searchParams.get("wssecret");
  if (query !== null) out.query = query;
  return out;
}

/** Yields to the event loop so Deno can hand queued websocket frames to the kernel. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A feed client; its allowance starts at the limit plus its replay burst. */
type Client = FeedClient;

/** Creates a dashboard receiver. */
export function createDashboardReceiver(
  id: string,
  options: DashboardOptions & { wsSecret: string },
): DashboardReceiver {
  const limit = options.maxClientBufferBytes;
  const replayTypes = [...new Set(options.replayTypes)];
  const replayedMetrics = new Set(options.replayMetrics);
  const clients = new Set<Client>();
  const replay = createReplayStore({
    replayTypes,
    maxAgents: options.maxAgents,
    maxReplayBytes: options.maxReplayBytes,
    maxReplayFrameBytes: options.maxReplayFrameBytes,
    warn: (line) => console.warn(`receiver ${id}: ${line}`),
  });
  let closed = false;
  /** Bytes broadcast since the last yield: bounds what a healthy client can have queued unsent. */
  let sinceYield = 0;
  const perAddress = createAddressLimit(options.maxClientsPerAddress);
  const counters = {
    clients_closed_slow: 0,
    clients_refused: 0,
    sent_total: 0,
    skipped_unserializable: 0,
  };

  /** A frame's wire text, made on first need; undefined (counted) when it is not JSON. */
  function textOf(frame: Frame): string | undefined {
    if (frame.text === undefined) {
      frame.text = serialize(frame.agentId, frame.data!);
      if (frame.text === undefined) counters.skipped_unserializable++;
      else frame.data = undefined;
    }
    return frame.text;
  }

  function drop(client: Client, code: number, reason: string): void {
    clients.delete(client);
    dropClient(client, code, reason);
  }

  function send(client: Client, text: string, bytes: number): void {
    if (client.out.send(text, bytes)) counters.sent_total++;
    else clients.delete(client);
  }

  function broadcast(text: string, bytes: number): void {
    const now = Date.now();
    for (const client of clients) {
      if (!keepsUp(client, limit, now)) {
        counters.clients_closed_slow++;
        drop(client, 1008, "client too slow: not reading");
        continue;
      }
      send(client, text, bytes);
    }
    sinceYield += bytes;
  }

  /**
   * Broadcasts and remembers `batch` from `start` on, synchronously (no promise: the usual case)
   * until half the clients' limit went out unflushed; then the rest follows after a yield that
   * lets the sockets drain.
   */
  function receiveFrom(batch: Message[], start: number): Promise<void> | void {
    for (let i = start; i < batch.length; i++) {
      const message = batch[i]!;
      const frame: Frame = { agentId: message.agentId, data: message.data };
      const type = payloadType(message);
      // Without clients nothing is serialized: a frame is only kept for a later replay.
      if (clients.size > 0) {
        const text = textOf(frame);
        if (text === undefined) continue;
        broadcast(text, frame.bytes = utf8Length(text)); // counted for the replay as sent
      }
      if (type !== undefined && replayedMetrics.has(message.dataType)) {
        replay.remember(message.agentId, type, frame);
      }
      if (sinceYield * 2 >= limit && clients.size > 0) {
        return yieldToEventLoop().then(() => {
          sinceYield = 0;
          return receiveFrom(batch, i + 1);
        });
      }
    }
  }

  function onOpen(socket: WebSocket): void {
    if (closed) {
      socket.close(1001, "server shutting down");
      return;
    }
    const client = createFeedClient(socket, limit, 0, Date.now());
    let sent = 0;
    replay.serializeAll(textOf);
    for (const [, last] of replay.agents()) {
      for (const type of replayTypes) {
        const frame = last.get(type);
        if (frame?.text === undefined) continue;
        // Counted at its length when its text was made: measured again here, 60 MB of replay
        // cost each new client most of its 190 ms.
        const bytes = frame.bytes ?? utf8Length(frame.text);
        send(client, frame.text, bytes);
        sent += bytes;
      }
    }
    client.allowance = limit + sent;
    if (socket.readyState === WebSocket.OPEN) clients.add(client);
    socket.addEventListener("close", () => clients.delete(client));
    socket.addEventListener("error", () => clients.delete(client));
  }

  const app = new Hono<AppEnv>();
  app.get(options.wsPath, (c) => {
    const req = c.req.raw;
    // Everything from the request is read before the upgrade: afterwards its headers throw.
    const secrets = presentedSecrets(req);
    let authorized = false;
    for (const value of [secrets.header, secrets.query]) {
      if (value !== undefined && safeEqual(value, options.wsSecret)) authorized = true;
    }
    const protocolOk = secrets.protocol !== undefined &&
      safeEqual(secrets.protocol.slice(PROTOCOL_PREFIX.length), options.wsSecret);
    if (!authorized && !protocolOk) {
      return errorResponse(
        401,
        "unauthorized",
        "send the dashboard secret as the wssecret header, a wssecret.<secret> subprotocol or ?wssecret=",
      );
    }
    const upgraded = upgradeSocket(c, {
      endpoint: `${options.wsPath} is a websocket endpoint`,
      unavailable: () => closed ? "the dashboard feed is shutting down" : undefined,
      limit: {
        sockets: perAddress,
        message: `at most ${options.maxClientsPerAddress} dashboard connections per address`,
        onRefused: () => counters.clients_refused++,
      },
      upgrade: protocolOk ? { protocol: secrets.protocol } : {},
    });
    if (!upgraded.ok) return upgraded.response;
    const { socket, response } = upgraded;
    socket.addEventListener("open", () => onOpen(socket), { once: true });
    // Messages from clients are ignored; Deno still reads (and answers pings and closes).
    return response;
  });

  function disconnectAll(): void {
    closed = true;
    for (const client of [...clients]) drop(client, 1001, "server shutting down");
  }

  return {
    id,
    durable: false,
    routes: { group: "dashboard", app },
    receive(batch: Message[]) {
      return receiveFrom(batch, 0);
    },
    inactive(agentId: string) {
      const frame: Frame = { agentId, data: inactivePayload() };
      const text = textOf(frame)!;
      frame.bytes = utf8Length(text);
      // Replayed for an agent whose reports are: /bye under made-up ids had filled the replay
      // with agents that never reported, pushing the real ones' information out.
      if (replay.has(agentId)) replay.remember(agentId, "statistics", frame);
      broadcast(text, frame.bytes);
    },
    disconnect: disconnectAll,
    close: disconnectAll,
    snapshot() {
      const out: AgentSnapshot[] = [];
      replay.serializeAll(textOf);
      for (const [agentId, last] of replay.agents()) {
        const entry: AgentSnapshot = { agentId, last: {} };
        for (const [type, frame] of last) entry.last[type] = JSON.parse(frame.text!).data;
        out.push(entry);
      }
      return out;
    },
    stats() {
      return { clients: clients.size, ...replay.stats(), ...counters };
    },
  };
}

/** Registry entry for `type: "dashboard"`. */
export const dashboardReceiverType: ReceiverType<typeof schema> = {
  options: schema,
  async create(options, context) {
    const wsSecret = options.wsSecret ?? await context.wsSecret?.();
    if (wsSecret === undefined) throw new Error(`receiver ${context.config.id}: no wsSecret`);
    return createDashboardReceiver(context.config.id, { ...options, wsSecret });
  },
};
