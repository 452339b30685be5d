/**
 * The ethstats sockets once upgraded (routes.ts admits them): each one's login (`hello`), its
 * frames (size and rate limits, decoding, the reports it may emit), and one sweep timer for all of
 * them (bans, silence and hello timeouts, activity, Primus heartbeats). A node is reported
 * inactive when its last socket closes.
 */
import type { LoginLimiter } from "../../auth/login_limit.ts";
import type { AuthService } from "../../auth/service.ts";
import { StoreUnavailableError } from "../../auth/store.ts";
import type { ActivityMonitor } from "../../core/activity.ts";
import type { AgentIdLimit } from "../../core/agent_ids.ts";
import type { Bus } from "../../core/bus.ts";
import type { Config } from "../../core/config.ts";
import type { IngressMeter } from "../../core/ingress.ts";
import {
  ACTIVE_WITHOUT_FRAMES_MS,
  type Connection,
  emit,
  errorFrame,
  evictionCandidate,
  frameRefusal,
  GOING_AWAY,
  INTERNAL_ERROR,
  type LoginGate,
  MAX_HELD_BYTES,
  newConnection,
  type PenaltyBox,
  POLICY_VIOLATION,
  READY,
  sendFrame,
  SWEEP_INTERVAL_MS,
  TRY_AGAIN_LATER,
} from "./connection.ts";
import { authenticateHello } from "./credentials.ts";
import {
  decodeFrame,
  type Hello,
  helloPayload,
  isHistoryAnswer,
  PRIMUS_SERVER_CLOSE,
  primusPing,
} from "./frames.ts";
import { createHistoryBackfill, type HistoryRequest } from "./history.ts";
import { createReportHandlers } from "./reports.ts";

/** How long a hello refused because its name is locked at its address waits for its answer. */
const LIMITED_REFUSAL_DELAY_MS = 1_000;
/**
 * How long a hello refused for its user's agent-id bound waits for its answer: such a refusal
 * lasts (days), and eth-net-intelligence-api's Primus reconnects 500 ms after any close of a socket
 * that had opened (117 refused hellos a minute, for good, in the operator trial).
 */
const AGENT_ID_REFUSAL_DELAY_MS = 5_000;

/**
 * How long a node whose socket a graceful stop closed may take to connect again elsewhere before
 * it is reported inactive (cluster mode; at least the activity timeout): go-ethereum notices a
 * closed socket only when it next writes (a head, a transaction, its full report every 15 s), then
 * connects again at once, through the balancer, to another instance.
 */
export const HANDOVER_GRACE_MS = 30_000;

/** The metric type every ethstats report is published under. */
export const ETHSTATS_DATA_TYPE = "ethereum_metrics";

/** The handler's counters (/metrics), kept by the sessions and counted by routes.ts too. */
const COUNTERS = [
  "connections_total",
  "logins_ok",
  "logins_failed",
  "frames",
  "malformed",
  "ignored",
  "ignored_before_hello",
  "history_entries_skipped",
  "pings_sent",
  "limited",
  "limited_frame_size",
  "limited_rate",
  "limited_connections",
  "limited_unauthenticated",
  "limited_cooldown",
  "closed_inactive_user",
  "refused_agent_id_limit",
  "closed_hello_timeout",
  "evicted_before_hello",
  "closed_silent",
  "closed_not_reading",
  "published",
  "overloaded",
] as const;
export type EthstatsCounter = typeof COUNTERS[number];

/** What the handler needs from the service (routes.ts passes them on). */
export interface EthstatsHandlerDeps {
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  options: Config["ethstats"];
  /**
   * When given, ethstats logins are agent login attempts (auth/login_limit.ts), like Basic-auth
   * ones, and a locked user or address is refused without running scrypt.
   */
  limiter?: LoginLimiter;
  /** A socket that has not sent `hello` within this time is closed (default 10 s). */
  helloTimeoutMs?: number;
  /** An unanswered history request frees its network for another node after this (default 10 s). */
  historyTimeoutMs?: number;
  /** Counts every frame read, so receivers can hold their work during a burst (core/ingress.ts). */
  ingress?: IngressMeter;
  /** The agent ids each user (and the shared secret) may report under (core/agent_ids.ts). */
  agentIds?: AgentIdLimit;
  /** The sessions' clock (epoch ms; tests pass their own). */
  clock?: () => number;
}

export interface EthstatsSessionsDeps extends EthstatsHandlerDeps {
  /** Makes equal block reports of many nodes share one object (core/shared_blocks.ts). */
  share<B extends Record<string, unknown>>(block: B): B;
  /** The gate a socket passed while not logged in: left once it logs in or closes. */
  gate: LoginGate;
  /** Where an address that floods or sends an oversized frame waits out its cooldown. */
  penalties: PenaltyBox;
}

/** The upgraded sockets. */
export interface EthstatsSessions {
  counters: Record<EthstatsCounter, number>;
  /**
   * Takes an upgraded socket from `address`, which the gate admitted; `primus` when a Primus
   * client dialled it (`?_primuscb=`: heartbeats every interval, see `Connection.primus`).
   */
  open(socket: WebSocket, address: string, primus?: boolean): void;
  /**
   * Makes room when every login slot is taken: closes (1013) the socket silent longest without a
   * hello from the address holding the most such sockets. False when none is waiting for its hello
   * (all are logging in). Without it 64 idle sockets, each renewed before its hello timeout, kept
   * every node out.
   */
  evictIdle(): boolean;
  /** Sockets open. */
  size(): number;
  /** History requests' counters (history.ts). */
  historyStats(): Record<string, number>;
  /**
   * Closes every socket (1001) and stops the sweep timer. The nodes are not reported gone but
   * handed over: they connect again (elsewhere in a cluster), or are reported after a grace.
   */
  close(): void;
}

/** Creates the sessions of the ethstats handler. */
export function createEthstatsSessions(deps: EthstatsSessionsDeps): EthstatsSessions {
  const { auth, bus, activity, options, limiter, ingress, share, gate, penalties, agentIds } = deps;
  const clock = deps.clock ?? Date.now;
  const counters = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<EthstatsCounter, number>;
  const connections = new Set<Connection>();
  /** Sockets that have not sent their hello yet, oldest first. */
  const fresh = new Set<Connection>();
  /** Authenticated sockets per agent id: the node is inactive when its last one closes. */
  const perAgent = new Map<string, number>();
  const helloTimeoutMs = deps.helloTimeoutMs ?? 10_000;
  /**
   * A logged-in socket with no frame for this long (default: four report intervals) is closed:
   * its peer is gone or stuck. This replaces Deno's websocket idle timeout (a ping after 15 s of
   * silence), which is off for these sockets because it re-arms a timer on every frame received:
   * at 10,000 nodes a timer object per frame, each living long enough to die in the old generation.
   */
  const silentTimeoutMs = options.silentCloseSeconds * 1000;
  const pingIntervalMs = options.pingIntervalSeconds * 1000;
  const history = createHistoryBackfill<Connection>({
    limit: options.historyRequestLimit,
    timeoutMs: deps.historyTimeoutMs ?? 10_000,
  });
  const rate = options.maxMessagesPerSecond;
  const burst = Math.max(1, rate);
  const limits = { maxFrameBytes: options.maxFrameBytes, rate, burst };
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** When the sweep last kept the connected nodes' places among their users' ids. */
  let claimsKeptAt = 0;
  /** Closing every socket (the service stops): no node is reported gone for it (see `close`). */
  let stopping = false;

  /** Forgets a connection (idempotent); reports its node inactive when it was the last one. */
  function finish(conn: Connection): void {
    const wasReady = conn.state === "ready";
    if (conn.state === "new" || conn.state === "authenticating") loggedIn(conn);
    conn.state = "closed";
    fresh.delete(conn);
    if (!connections.delete(conn)) return;
    history.forget(conn); // another node may be asked at once
    if (wasReady) {
      const sockets = (perAgent.get(conn.agentId) ?? 1) - 1;
      if (sockets > 0) perAgent.set(conn.agentId, sockets);
      else {
        perAgent.delete(conn.agentId);
        if (!stopping) activity.bye(conn.agentId);
        else activity.handOver?.(conn.agentId, HANDOVER_GRACE_MS);
      }
    }
    if (connections.size === 0 && sweepTimer !== undefined) {
      clearInterval(sweepTimer);
      sweepTimer = undefined;
    }
  }

  /** Sends a frame; a node that does not read what it is sent is closed (sendFrame), counted. */
  function send(conn: Connection, frame: string): void {
    if (!sendFrame(conn, frame)) counters.closed_not_reading++;
  }

  /** The socket no longer counts as unauthenticated (it logged in, or it is gone). */
  function loggedIn(conn: Connection): void {
    if (!conn.unauthenticated) return;
    conn.unauthenticated = false;
    gate.leave(conn.key);
  }

  /** Tells the node why (one emit frame), closes the socket and forgets the connection. */
  function drop(conn: Connection, frame: string | null, code: number, reason: string): void {
    conn.closedWith = { frame, code, reason };
    if (frame !== null) send(conn, frame);
    try {
      conn.socket.close(code, reason);
    } catch {
      // Already closing.
    }
    finish(conn);
  }

  function publish(conn: Connection, type: string, body: Record<string, unknown>): void {
    counters.published++;
    const result = bus.publish({
      id: crypto.randomUUID(),
      agentId: conn.agentId,
      dataType: ETHSTATS_DATA_TYPE,
      messageType: "data",
      data: { type, body },
      receivedAt: clock(),
      bytes: conn.frameBytes,
      address: conn.address,
      user: conn.user,
    });
    // The ethstats protocol has no per-report answer to refuse with: an overloaded report is
    // lost to the node, counted (bus pushes `full`, receiver `refused_total`, `overloaded` here).
    if (result instanceof Promise) {
      result.then(
        (r) => {
          if (r.state === "overloaded") counters.overloaded++;
        },
        (err) => console.error(`ethstats: publishing ${type} of ${conn.agentId} failed:`, err),
      );
    } else if (result.state === "overloaded") counters.overloaded++;
  }

  async function login(conn: Connection, hello: Hello): Promise<void> {
    conn.state = "authenticating";
    fresh.delete(conn);
    const result = await authenticateHello(
      { auth, limiter, sharedSecret: options.sharedSecret },
      conn.key,
      hello,
    );
    if (conn.state !== "authenticating") return; // closed while scrypt ran
    if (!result.ok) {
      counters.logins_failed++;
      // A client that reconnects at once when refused (Nethermind's Websocket.Client) had looped
      // ~1,400 hellos a second past the login limit. An address at its own limit cools down (429s:
      // the client waits between attempts); a name locked at an address is refused a second late,
      // which slows its loop as much without barring its neighbours behind the same NAT.
      if (result.limited === "address") penalties.penalize(conn.key, clock());
      if (result.limited === "pair" && !await waitOutside(conn, LIMITED_REFUSAL_DELAY_MS)) return;
      refuse(conn, result.message, result.limited && { error: "rate_limited", reason: "login limited" });
      return;
    }
    // Read in the login's own turn: a ban that lands after it changes the epoch (userGone).
    const epoch = result.user === null ? undefined : auth.activeEpoch(result.user);
    if (result.user !== null && epoch === undefined) {
      counters.logins_failed++;
      refuse(conn, "user is inactive or deleted");
      return;
    }
    if (agentIds !== undefined && !agentIds.admit(result.user, result.agentId, clock())) {
      // For now: a place frees when one of the user's ids has not reported for forgetAfterMs.
      counters.logins_failed++;
      counters.refused_agent_id_limit++;
      if (!await waitOutside(conn, AGENT_ID_REFUSAL_DELAY_MS)) return;
      refuse(conn, "the user reports under as many node names as it may", {
        error: "agent_id_limit",
        reason: "agent id limit",
      });
      return;
    }
    counters.logins_ok++;
    loggedIn(conn);
    conn.state = "ready";
    conn.agentId = result.agentId;
    conn.helloId = hello.id;
    conn.displayName = result.displayName;
    conn.user = result.user;
    conn.epoch = epoch;
    conn.canUpdateHistory = hello.info.canUpdateHistory !== false;
    conn.net = String(hello.info.net ?? "");
    perAgent.set(conn.agentId, (perAgent.get(conn.agentId) ?? 0) + 1);
    send(conn, READY);
    activity.ping(conn.agentId);
    publishInformation(conn, hello.info);
    const held = conn.held;
    conn.held = [];
    conn.heldBytes = 0;
    for (const text of held) {
      conn.frameBytes = text.length;
      const frame = decodeFrame(text);
      if (frame.kind === "emit") dispatch(conn, frame.name, frame.payload);
    }
  }

  /**
   * Waits `ms` before a refusal, outside the login slots: 64 such hellos a second from 8 addresses
   * had held every slot (never evicted: logging in) and kept every node out. Nothing is held for it
   * meanwhile: outside the slots, 50 such sockets per address had each held 64 KiB of frames in a
   * loop. False when the socket closed meanwhile.
   */
  async function waitOutside(conn: Connection, ms: number): Promise<boolean> {
    loggedIn(conn);
    conn.held = [];
    conn.heldBytes = MAX_HELD_BYTES;
    await new Promise((resolve) => setTimeout(resolve, ms));
    return conn.state === "authenticating";
  }

  function askHistory(conn: Connection, list: HistoryRequest): void {
    // As eth-netstats asks (Nethermind's parser reads max and min; go-ethereum reads list).
    if (list !== null) send(conn, emit("history", { max: Math.max(...list), min: Math.min(...list), list }));
  }

  /** What a logged-in node may emit, by event name (reports.ts). */
  const reports = createReportHandlers<Connection>({
    publish,
    send,
    share,
    blocks(conn, blocks, fromHistory) {
      const now = clock();
      if (fromHistory) askHistory(conn, history.history(conn, blocks, now));
      else askHistory(conn, history.block(conn, blocks[0]!, now));
    },
    skipped(count) {
      counters.history_entries_skipped += count;
    },
  });

  function onFrame(conn: Connection, data: unknown): void {
    if (conn.state === "closed") return;
    counters.frames++;
    ingress?.note();
    const now = clock();
    const refusal = frameRefusal(conn, data, now, limits);
    if (refusal !== null) {
      counters.limited++;
      counters[refusal.counter]++;
      if (refusal.counter === "limited_frame_size" && isHistoryAnswer(data)) history.unanswerable(conn);
      penalties.penalize(conn.key, now);
      drop(conn, refusal.frame, refusal.code, refusal.reason);
      return;
    }
    conn.lastFrameAt = now;
    if (conn.state === "ready") {
      if (userGone(conn)) {
        closeInactiveUser(conn);
        return;
      }
      activity.ping(conn.agentId);
    }

    if (typeof data !== "string") return unusable(conn, "binary frames are not part of the protocol");
    conn.frameBytes = data.length;
    const frame = decodeFrame(data);
    switch (frame.kind) {
      case "ping":
        send(conn, frame.reply);
        return;
      case "control":
        return;
      case "unusable":
        return unusable(conn, frame.message);
    }
    const { name, payload } = frame;
    if (conn.state === "new") {
      if (name === "hello") return onHello(conn, payload);
      // A Primus client sends what it queued while offline before its hello: dropped, pings too
      // (a pong for each made as many latency frames at once, from clientTimes up to minutes
      // old; its next ping comes within seconds). Its hello follows, within helloTimeout.
      counters.ignored_before_hello++;
      return;
    }
    if (conn.state === "authenticating") {
      if (name === "node-ping") reports.get(name)!(conn, payload);
      else if (conn.heldBytes + data.length <= MAX_HELD_BYTES) {
        // As text, decoded again once it is ready: decoded, 64 KiB of `{}` took 1.4 MB of heap.
        conn.held.push(data);
        conn.heldBytes += data.length;
      } else counters.ignored_before_hello++;
      return;
    }
    dispatch(conn, name, payload);
  }

  function dispatch(conn: Connection, name: string, payload: unknown): void {
    if (name === "hello") return helloAgain(conn, payload);
    const handle = reports.get(name);
    if (!handle) counters.ignored++; // an event another client invented
    else if (!handle(conn, payload)) counters.malformed++;
  }

  function publishInformation(conn: Connection, info: Hello["info"]): void {
    publish(conn, "information", conn.displayName === null ? info : { ...info, name: conn.displayName });
  }

  /**
   * A hello on a logged-in socket: POA Network's agent sends one every 60 s with its node's
   * information read again (a client upgraded, a new coinbase), and eth-netstats takes it. The
   * same `id` updates the information (the socket is logged in: its secret is not checked again);
   * another is ignored (a socket reports for one node).
   */
  function helloAgain(conn: Connection, payload: unknown): void {
    const hello = helloPayload.safeParse(payload);
    if (!hello.success) counters.malformed++;
    else if (hello.data.id !== conn.helloId) counters.ignored++;
    else publishInformation(conn, hello.data.info);
  }

  function onHello(conn: Connection, payload: unknown): void {
    const hello = helloPayload.safeParse(payload);
    if (!hello.success) {
      counters.malformed++;
      counters.logins_failed++;
      refuse(conn, "malformed hello");
      return;
    }
    login(conn, hello.data).catch((err) => {
      counters.logins_failed++;
      if (err instanceof StoreUnavailableError) {
        // Not a refusal: the node connects again (geth after 10 s) and is checked then.
        const frame = errorFrame("auth_store_unavailable", `${err.message}; retry shortly`);
        drop(conn, frame, TRY_AGAIN_LATER, "auth store unavailable");
        return;
      }
      console.error("ethstats: login crashed:", err);
      drop(conn, null, POLICY_VIOLATION, "unauthorized");
    });
  }

  /** A frame that cannot be understood: ignored from a logged-in node, fatal before login. */
  function unusable(conn: Connection, message: string): void {
    counters.malformed++;
    if (conn.state === "new") refuse(conn, message);
  }

  /**
   * Refuses a node: `un-authorization` (go-ethereum reads any first frame other than `ready` as
   * "unauthorized" and retries in 10 s), then, for good, `primus::server::close`, after which a
   * Primus client ends instead of reconnecting every half second. Refused for now (`forNow`: by the
   * login limit, not for its secret; or its user banned while logged in, which may be undone), it
   * may log in later: an `error` frame and 1013 instead, and a Primus client reconnects with its
   * backoff (eth-net-intelligence-api had
   * stopped for good: a fleet sharing a user behind one address, or a node whose neighbour's
   * guesses locked the name, had to be restarted by hand).
   */
  function refuse(conn: Connection, message: string, forNow?: { error: string; reason: string }): void {
    send(conn, emit("un-authorization", message));
    if (forNow) drop(conn, errorFrame(forNow.error, message), TRY_AGAIN_LATER, forNow.reason);
    else drop(conn, PRIMUS_SERVER_CLOSE, POLICY_VIOLATION, "unauthorized");
  }

  /** Whether the user a socket logged in as was banned, deleted or re-created since. */
  function userGone(conn: Connection): boolean {
    return conn.user !== null && auth.activeEpoch(conn.user) !== conn.epoch;
  }

  /**
   * Closes a logged-in socket whose user was banned, deactivated or deleted, for now only: the
   * ban may be undone, or the user re-created, a moment later (a Primus client told
   * `primus::server::close` had stopped for good). Its next hello is checked as any other, and
   * refused for good while the user is still banned or gone.
   */
  function closeInactiveUser(conn: Connection): void {
    counters.closed_inactive_user++;
    refuse(conn, "user is inactive or deleted", { error: "user_inactive", reason: "user inactive" });
  }

  /**
   * One timer for all sockets: bans and deactivations, hello and silence timeouts, activity of
   * quiet nodes, Primus heartbeats (each socket on its own phase, so they spread over the interval;
   * to a socket not dialled by Primus only after an interval with nothing sent to it).
   */
  function sweep(): void {
    const now = clock();
    // Once a minute is plenty (an id is forgotten after days), not two Map lookups per node a second.
    const keepClaims = agentIds !== undefined && now - claimsKeptAt >= 60_000;
    if (keepClaims) claimsKeptAt = now;
    for (const conn of connections) {
      if (conn.state === "ready") {
        const silentMs = now - conn.lastFrameAt;
        if (userGone(conn)) closeInactiveUser(conn);
        else if (silentMs >= silentTimeoutMs) {
          counters.closed_silent++;
          const message = `no frame for ${Math.round(silentMs / 1000)} s`;
          drop(conn, errorFrame("silent", message), GOING_AWAY, "no frames");
        } else {
          if (silentMs < ACTIVE_WITHOUT_FRAMES_MS) {
            activity.ping(conn.agentId);
            // A connected node keeps its place among its user's ids.
            if (keepClaims) agentIds!.admit(conn.user, conn.agentId, now);
          }
          if (pingIntervalMs > 0 && now - (conn.primus ? conn.pingedAt : conn.sentAt) >= pingIntervalMs) {
            conn.pingedAt = now;
            counters.pings_sent++;
            send(conn, primusPing(now));
          }
        }
      } else if (conn.state === "new" && now - conn.openedAt > helloTimeoutMs) {
        counters.closed_hello_timeout++;
        refuse(conn, "no hello");
      }
    }
  }

  return {
    counters,
    open(socket, address, primus = false) {
      const now = clock();
      const conn = newConnection(socket, address, now, burst, primus);
      connections.add(conn);
      fresh.add(conn);
      sweepTimer ??= setInterval(sweep, SWEEP_INTERVAL_MS);
      socket.onmessage = (event) => {
        try {
          onFrame(conn, event.data);
        } catch (err) {
          // A bug must cost this socket, not the process or the other sockets.
          console.error("ethstats: frame handling failed:", err);
          drop(conn, null, INTERNAL_ERROR, "internal error");
        }
      };
      socket.onopen = () => {
        if (conn.state !== "closed") return;
        // Closed before the upgrade completed (evicted, or the service stopping): told now, as it
        // would have been (an evicted socket got 1001 "server shutting down" and no frame).
        const why = conn.closedWith ?? { frame: null, code: GOING_AWAY, reason: "server shutting down" };
        if (why.frame !== null) socket.send(why.frame);
        socket.close(why.code, why.reason);
      };
      socket.onclose = () => finish(conn);
      socket.onerror = () => {}; // onclose follows
    },
    evictIdle() {
      const victim = evictionCandidate(fresh);
      if (victim === undefined) return false;
      counters.evicted_before_hello++;
      const message = "too many sockets waiting to log in; this one had sent no hello";
      drop(victim, errorFrame("busy", message), TRY_AGAIN_LATER, "no hello, room needed");
      return true;
    },
    size: () => connections.size,
    historyStats: () => history.stats(),
    close() {
      // The nodes are not gone: they connect again, to another instance in cluster mode. A `bye`
      // here had every other instance report each of them inactive (an alert, then `back`, per node
      // at every rolling upgrade); handed over, one that does not come back within
      // HANDOVER_GRACE_MS is reported then.
      stopping = true;
      for (const conn of [...connections]) drop(conn, null, GOING_AWAY, "server shutting down");
      if (sweepTimer !== undefined) clearInterval(sweepTimer);
      sweepTimer = undefined;
    },
  };
}
