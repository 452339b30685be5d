/**
 * One ethstats socket as the handler (`routes.ts`) keeps it: its state, the frames the server
 * sends, the close codes, the per-socket rate limit, and the gate on sockets not logged in yet.
 */
import { addressKey } from "../../http/app_env.ts";
import { utf8Length } from "../../http/websocket.ts";

/**
 * go-ethereum sends a full report every 15 s and otherwise only on new blocks or
 * transactions, so on a quiet chain its frames can be further apart than the activity
 * timeout (7 s by default). An open socket therefore keeps its node active as long as the
 * node has sent something within this window (three report intervals).
 */
export const ACTIVE_WITHOUT_FRAMES_MS = 45_000;
/** Reports held per socket while its login is checked (characters of frame text); more are dropped. */
export const MAX_HELD_BYTES = 64 * 1024;
export const SWEEP_INTERVAL_MS = 1000;

/** Close codes (RFC 6455). */
export const POLICY_VIOLATION = 1008;
export const MESSAGE_TOO_BIG = 1009;
export const GOING_AWAY = 1001;
export const INTERNAL_ERROR = 1011;
export const TRY_AGAIN_LATER = 1013;

// The node requires exactly this reply; anything else is "unauthorized".
export const READY = '{"emit":["ready"]}';

/** A connection's life: waiting for hello, checking the secret, reporting, gone. */
export type ConnState = "new" | "authenticating" | "ready" | "closed";

export interface Connection {
  socket: WebSocket;
  /** The client's address, as its reports carry it (`Message.address`: the map). */
  address: string;
  /** What per-address limits count it under (http/app_env.ts `addressKey`: an IPv6 /64). */
  key: string;
  state: ConnState;
  openedAt: number;
  /** `hello.id`: the agent id of every Message from this socket. */
  agentId: string;
  /** The `id` of the hello it logged in with: a later hello with it updates the node's information. */
  helloId: string;
  /** The name its information is shown under when its credentials carried one (else `info.name`). */
  displayName: string | null;
  /** The agent user whose bans apply; null when the shared secret was used. */
  user: string | null;
  /** That user's token epoch at login: a ban (even undone) or a re-creation changes it. */
  epoch: string | undefined;
  canUpdateHistory: boolean;
  /** Why the service closed it, for a socket closed before its upgrade had completed. */
  closedWith?: { frame: string | null; code: number; reason: string };
  /** `hello.info.net`: nodes of one network share a block record (history.ts). */
  net: string;
  /** The highest block number this socket reported (for `syncing: true` and history). */
  headBlock: number | null;
  /** Its latest `stats` said: not syncing, with peers (asked for history then, as eth-netstats does). */
  synced: boolean;
  lastFrameAt: number;
  /**
   * Dialled by a Primus client (`?_primuscb=` in its URL): it counts only the server's heartbeats
   * as a sign of life (Primus >= 7 drops a line without one for 45 s), so it gets one every
   * interval. Other clients get one only after an interval in which the server sent them nothing:
   * POA Network's agent is no Primus client and crashes on one (a JSON string where it expects an
   * emit object), and it is never that long without a node-pong.
   */
  primus: boolean;
  /** When the server last sent this socket a Primus heartbeat. */
  pingedAt: number;
  /** When the server last sent this socket any frame. */
  sentAt: number;
  /**
   * Reports that came while the login was being checked (Nethermind does not wait for `ready`,
   * a reconnected Primus client flushes its queue right after `hello`), handled once it is ready.
   */
  held: string[];
  /** Length of the frame being handled (what its reports weigh in the queues). */
  frameBytes: number;
  heldBytes: number;
  /** Counted in `unauthenticated` (until it logs in or closes). */
  unauthenticated: boolean;
  /** Token bucket for maxMessagesPerSecond (once the hello came). */
  tokens: number;
  refilledAt: number;
  /** Frames and bytes before the hello (a reconnected Primus client's backlog), bounded apart. */
  earlyFrames: number;
  earlyBytes: number;
}

/** A socket's connection as it opens: waiting for `hello`, its rate bucket full. */
export function newConnection(
  socket: WebSocket,
  address: string,
  now: number,
  tokens: number,
  primus = false,
): Connection {
  return {
    socket,
    address,
    key: addressKey(address),
    state: "new",
    openedAt: now,
    agentId: "",
    helloId: "",
    displayName: null,
    user: null,
    epoch: undefined,
    canUpdateHistory: true,
    net: "",
    headBlock: null,
    synced: false,
    lastFrameAt: now,
    primus,
    pingedAt: now,
    sentAt: now,
    held: [],
    heldBytes: 0,
    frameBytes: 0,
    unauthenticated: true,
    tokens,
    refilledAt: now,
    earlyFrames: 0,
    earlyBytes: 0,
  };
}

/** An emit frame as the server sends it. */
export function emit(name: string, payload?: unknown): string {
  return JSON.stringify({ emit: payload === undefined ? [name] : [name, payload] });
}

export function errorFrame(code: string, message: string): string {
  return emit("error", { error: code, message });
}

/** UTF-8 size of a string, computed only when the cheap bounds cannot decide. */
export function exceedsBytes(text: string, limit: number): boolean {
  if (text.length > limit) return true; // every UTF-16 unit is at least one UTF-8 byte
  if (text.length * 3 <= limit) return false; // and at most three
  return new TextEncoder().encode(text).byteLength > limit;
}

export function binarySize(data: unknown): number {
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (data instanceof Blob) return data.size;
  return ArrayBuffer.isView(data) ? data.byteLength : 0;
}

/**
 * Sockets that have not logged in yet, in all and per address: Deno buffers a whole frame
 * (up to 64 MiB) before anything can check it, so what peers without credentials can make the
 * process hold is bounded by capping these sockets (and the hello timeout time-boxes them). Not a
 * message sent in fragments that never ends: Deno 2.9.6 bounds each fragment only
 * (denoland/fastwebsockets#100; README "Limits under abuse").
 */
export interface LoginGate {
  /** Why a new socket may not open now, or null when it may (then it is counted). */
  admit(address: string): "busy" | "address" | null;
  /** The socket logged in or closed: no longer counted. */
  leave(address: string): void;
  count(): number;
}

export function createLoginGate(maxAll: number, maxPerAddress: number): LoginGate {
  let all = 0;
  const perAddress = new Map<string, number>();
  return {
    admit(address) {
      // The address's own bound first: a request refused for it must not make room (evict) first.
      const here = perAddress.get(address) ?? 0;
      if (here >= maxPerAddress) return "address";
      if (all >= maxAll) return "busy";
      all++;
      perAddress.set(address, here + 1);
      return null;
    },
    leave(address) {
      all--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
    },
    count: () => all,
  };
}

/**
 * Which of the sockets waiting for their hello (oldest first) makes room for a new one: the oldest
 * at the address holding the most of them, so an address flooding the gate loses its own first.
 */
export function evictionCandidate<C extends { key: string }>(waiting: Iterable<C>): C | undefined {
  const perAddress = new Map<string, number>();
  for (const conn of waiting) perAddress.set(conn.key, (perAddress.get(conn.key) ?? 0) + 1);
  let chosen: C | undefined;
  for (const conn of waiting) {
    if (chosen === undefined || perAddress.get(conn.key)! > perAddress.get(chosen.key)!) {
      chosen = conn;
    }
  }
  return chosen;
}

/**
 * Addresses whose socket was dropped for a policy violation (flooding, an oversized frame), each
 * barred from opening another socket for the same `ms`: an address that reconnects at once does
 * not get a fresh rate allowance. At most `maxAddresses` are remembered (the oldest go first).
 */
export interface PenaltyBox {
  penalize(address: string, now: number): void;
  /** Milliseconds until `address` may open a socket again; 0 when it may now. */
  waitMs(address: string, now: number): number;
}

export function createPenaltyBox(ms: number, maxAddresses = 100_000): PenaltyBox {
  /** Address → until when; insertion order is expiry order (every penalty lasts `ms`). */
  const until = new Map<string, number>();
  return {
    penalize(address, now) {
      if (ms <= 0) return;
      until.delete(address);
      for (const [oldest, end] of until) {
        if (end > now && until.size < maxAddresses) break;
        until.delete(oldest);
      }
      until.set(address, now + ms);
    },
    waitMs(address, now) {
      const end = until.get(address);
      if (end === undefined) return 0;
      if (end > now) return end - now;
      until.delete(address);
      return 0;
    },
  };
}

/**
 * What the server's frames to one node may leave unsent (characters; every frame it sends is
 * small: ready, pongs, history requests, heartbeats). A peer that does not read is closed
 * instead: its unsent frames would otherwise stay in memory for as long as it keeps the socket.
 */
export const MAX_UNSENT_BYTES = 1024 * 1024;

/**
 * Sends a frame unless the socket is gone (its onclose finishes the connection). False when the
 * peer left more than MAX_UNSENT_BYTES unread: the socket is then closed (1008), nothing sent.
 */
export function sendFrame(conn: Connection, frame: string): boolean {
  try {
    if (conn.socket.readyState !== WebSocket.OPEN) return true;
    if (conn.socket.bufferedAmount + frame.length > MAX_UNSENT_BYTES) {
      conn.socket.close(POLICY_VIOLATION, "not reading");
      return false;
    }
    conn.socket.send(frame);
    conn.sentAt = Date.now();
  } catch {
    // The peer went away.
  }
  return true;
}

/**
 * What a socket may send before its hello: 2,000 frames is 100 minutes of eth-net-intelligence-api's
 * 3 s pings (about 80 bytes each). More, or more bytes (UTF-8), is a rate violation.
 */
export const MAX_EARLY_FRAMES = 2_000;
export const MAX_EARLY_BYTES = 256 * 1024;

/** Counts a frame sent before the hello against that budget: false once it is over. */
export function takeEarly(conn: Connection, data: unknown): boolean {
  conn.earlyBytes += typeof data !== "string" ? binarySize(data) : data.length > MAX_EARLY_BYTES
    ? data.length // over the budget whatever its encoding: not walked
    : utf8Length(data);
  return ++conn.earlyFrames <= MAX_EARLY_FRAMES && conn.earlyBytes <= MAX_EARLY_BYTES;
}

/** Refills the token bucket (`rate` per second, up to `burst`); false when the frame is over the rate. */
export function takeToken(conn: Connection, now: number, rate: number, burst: number): boolean {
  conn.tokens = Math.min(burst, conn.tokens + (now - conn.refilledAt) * rate / 1000);
  conn.refilledAt = now;
  if (conn.tokens < 1) return false;
  conn.tokens -= 1;
  return true;
}

/** Limits on the frames of one socket (ethstats options). */
export interface FrameLimits {
  maxFrameBytes: number;
  /** Frames per second once the hello came, and the bucket's size. */
  rate: number;
  burst: number;
}

/** Why a frame closes its socket: the counter it is told under and what the node is told. */
export interface FrameRefusal {
  counter: "limited_frame_size" | "limited_rate";
  frame: string;
  code: number;
  reason: string;
}

/**
 * Admits one frame of a socket, or says why it closes the socket: larger than `maxFrameBytes`
 * (UTF-8), over the budget before the hello, or over the rate after it. Takes the frame's token.
 */
export function frameRefusal(
  conn: Connection,
  data: unknown,
  now: number,
  limits: FrameLimits,
): FrameRefusal | null {
  const { maxFrameBytes, rate, burst } = limits;
  const tooLarge = typeof data === "string"
    ? exceedsBytes(data, maxFrameBytes)
    : binarySize(data) > maxFrameBytes;
  if (tooLarge) {
    const frame = errorFrame("frame_too_large", `frames are limited to ${maxFrameBytes} bytes`);
    return { counter: "limited_frame_size", frame, code: MESSAGE_TOO_BIG, reason: "frame too large" };
  }
  // Before its hello a reconnected Primus client flushes what it queued while offline
  // (eth-net-intelligence-api: a node-ping every 3 s, 25 after a 75 s outage): bounded on its
  // own, not by the rate, which dropped such nodes on every return from an outage.
  if (conn.state === "new" ? takeEarly(conn, data) : takeToken(conn, now, rate, burst)) return null;
  const message = conn.state === "new"
    ? `more than ${MAX_EARLY_FRAMES} messages or ${MAX_EARLY_BYTES} bytes before hello`
    : `more than ${rate} messages per second`;
  return {
    counter: "limited_rate",
    frame: errorFrame("rate_limited", message),
    code: POLICY_VIOLATION,
    reason: "rate limited",
  };
}
