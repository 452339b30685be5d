/** Websocket helpers shared by every socket: the upgrade, address limits, sends and closes that never throw. */
import type { Context } from "hono";
import { type AppEnv, clientKey } from "./app_env.ts";
import { errorResponse } from "./errors.ts";

/**
 * What a feed needs of its connection to a client: a websocket (the dashboard's `/ws`) or a
 * server-sent event stream (the web page's `/feed`, http/event_stream.ts).
 */
export interface FeedSocket {
  /** WebSocket's values: 1 open, 2 closing, 3 closed. */
  readonly readyState: number;
  /** Bytes handed over and not yet sent. */
  readonly bufferedAmount: number;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: "close" | "error", listener: () => void, options?: { once?: boolean }): void;
}

/** Sends a text frame; false when the socket can no longer send (closing or closed). */
export function trySend(socket: FeedSocket, text: string): boolean {
  try {
    socket.send(text);
    return true;
  } catch {
    return false;
  }
}

/** UTF-8 size of a string (what `bufferedAmount` counts), without encoding it. */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // Surrogate halves count 2 each: 4 bytes per astral character.
    if (unit >= 0x80) bytes += unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/** Unsent bytes Deno may hold for a socket before its next frames wait in its {@link Outbox}. */
export const OUTBOX_HIGH_WATER = 512 * 1024;
const PUMP_MIN_MS = 5;
const PUMP_MAX_MS = 1000;

/**
 * A socket's outgoing frames in order, handed to Deno only while it holds less than `highWater`
 * unsent bytes for the socket. Deno cannot take back what it was handed, nor drop a connection
 * whose peer does not read (the socket lingers in CLOSING with its bytes): a client that does not
 * read costs about `highWater` in Deno plus the frames waiting here, which are references to
 * strings shared with every other client (a snapshot's parts, a broadcast frame), not copies.
 */
export interface Outbox {
  /** Queues `text` (`bytes`: its UTF-8 size); false once the socket can no longer send. */
  send(text: string, bytes: number): boolean;
  /** Unsent bytes: those Deno holds for the socket and those waiting here. */
  unsent(): number;
  /** Forgets what waits and stops (the socket closed or was dropped). */
  clear(): void;
}

/** Creates the {@link Outbox} of `socket`; it clears itself when the socket closes. */
export function createOutbox(socket: FeedSocket, highWater = OUTBOX_HIGH_WATER): Outbox {
  let waiting: Array<{ text: string; bytes: number }> = [];
  let head = 0;
  let waitingBytes = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let delay = PUMP_MIN_MS;
  let bufferedAfter = 0;
  let dead = false;

  function clear(): void {
    dead = true;
    waiting = [];
    head = 0;
    waitingBytes = 0;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  }

  /** Hands waiting frames to Deno up to the high water; false when the socket cannot send. */
  function pump(): boolean {
    while (head < waiting.length && socket.bufferedAmount < highWater) {
      const frame = waiting[head]!;
      waiting[head++] = undefined!;
      waitingBytes -= frame.bytes;
      if (!trySend(socket, frame.text)) {
        clear();
        return false;
      }
    }
    if (head === waiting.length) {
      waiting = [];
      head = 0;
    } else if (head > 1024 && head * 2 > waiting.length) {
      waiting = waiting.slice(head);
      head = 0;
    }
    return true;
  }

  /** Polls while frames wait: soon while the peer reads, backing off to a second while it does not. */
  function schedule(): void {
    if (timer !== undefined || dead || head === waiting.length) return;
    bufferedAfter = socket.bufferedAmount;
    timer = setTimeout(() => {
      timer = undefined;
      delay = socket.bufferedAmount < bufferedAfter ? PUMP_MIN_MS : Math.min(PUMP_MAX_MS, delay * 2);
      if (pump()) schedule();
    }, delay);
  }

  socket.addEventListener("close", clear, { once: true });
  return {
    send(text, bytes) {
      if (dead) return false;
      if (head === waiting.length && socket.bufferedAmount < highWater) {
        if (trySend(socket, text)) return true;
        clear();
        return false;
      }
      waiting.push({ text, bytes });
      waitingBytes += bytes;
      schedule();
      return true;
    },
    unsent: () => socket.bufferedAmount + waitingBytes,
    clear,
  };
}

/**
 * A client of a broadcast feed (the dashboard feeds): its socket and outbox, the unsent bytes it
 * may have before it is closed as too slow (the limit, raised by what its snapshot or replay
 * queued at connect), and until when that raise holds.
 */
export interface FeedClient {
  socket: FeedSocket;
  out: Outbox;
  allowance: number;
  graceUntil: number;
}

/**
 * How long a feed client may take its snapshot or replay: past it, more unsent bytes than the
 * limit close it like any slow client, so that a page that never reads does not keep its place
 * among the feed's clients for good.
 */
export const BURST_GRACE_MS = 120_000;

/** A feed client of `socket` connecting at `now`, allowed `burst` bytes beyond `limit` for a while. */
export function createFeedClient(socket: FeedSocket, limit: number, burst: number, now: number): FeedClient {
  return { socket, out: createOutbox(socket), allowance: limit + burst, graceUntil: now + BURST_GRACE_MS };
}

/**
 * Whether a feed client keeps up: false when it has more unsent bytes (in Deno and in its
 * outbox) than its allowance; once it has caught up to `limit`, or its grace is over, its
 * allowance is `limit`.
 */
export function keepsUp(client: FeedClient, limit: number, now: number): boolean {
  const unsent = client.out.unsent();
  if (unsent <= limit || now >= client.graceUntil) client.allowance = limit;
  return unsent <= client.allowance;
}

/** Closes a feed client's socket and forgets what waits in its outbox. */
export function dropClient(client: FeedClient, code: number, reason: string): void {
  client.out.clear();
  closeQuietly(client.socket, code, reason);
}

/** Closes a socket with a code and reason; a socket already closing is left as it is. */
export function closeQuietly(socket: FeedSocket, code: number, reason: string): void {
  try {
    socket.close(code, reason);
  } catch {
    // already closing
  }
}

/**
 * Open websockets per client address. A socket counts from its upgrade until its `close` event,
 * so one dropped for not reading still counts while it lingers in CLOSING: a client cannot pile
 * up half-closed sockets past the limit.
 */
export interface AddressLimit {
  /** Whether `address` may open one more socket. */
  allows(address: string): boolean;
  /** Counts `socket` against `address` until it has closed. */
  track(address: string, socket: FeedSocket): void;
  /** Sockets counted for `address`. */
  count(address: string): number;
}

/** Creates an {@link AddressLimit} of `max` sockets per address. */
export function createAddressLimit(max: number): AddressLimit {
  const open = new Map<string, number>();
  return {
    allows: (address) => (open.get(address) ?? 0) < max,
    track(address, socket) {
      open.set(address, (open.get(address) ?? 0) + 1);
      socket.addEventListener("close", () => {
        const n = (open.get(address) ?? 1) - 1;
        if (n <= 0) open.delete(address);
        else open.set(address, n);
      }, { once: true });
    },
    count: (address) => open.get(address) ?? 0,
  };
}

export interface UpgradeOptions {
  /** Said in the 426 answer to a plain GET, e.g. "/feed is a websocket endpoint". */
  endpoint: string;
  /** When this returns a message, the upgrade is refused with 503 (shutting down, full). */
  unavailable?: () => string | undefined;
  /** Sockets per address; beyond it 429 `too_many_connections` with `limitMessage`. */
  limit?: { sockets: AddressLimit; message: string; onRefused?: () => void };
  /** Passed to `Deno.upgradeWebSocket` (an echoed subprotocol, the idle ping). */
  upgrade?: Deno.UpgradeWebSocketOptions;
}

export type Upgraded =
  | { ok: true; socket: WebSocket; response: Response; address: string }
  | { ok: false; response: Response };

/**
 * The one websocket upgrade of the service (dashboard feed, web feed, ethstats): 426 without an
 * upgrade request, 503 when unavailable, 429 past the address limit, 400 for an invalid
 * handshake; the upgraded socket counts against its address until it has closed. Callers check
 * their own credentials first (a secret, a cookie) and set their handlers on the socket.
 */
export function upgradeSocket(c: Context<AppEnv>, options: UpgradeOptions): Upgraded {
  const req = c.req.raw;
  if (req.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return {
      ok: false,
      response: errorResponse(426, "upgrade_required", options.endpoint, { upgrade: "websocket" }),
    };
  }
  const unavailable = options.unavailable?.();
  if (unavailable !== undefined) {
    return { ok: false, response: errorResponse(503, "unavailable", unavailable) };
  }
  const address = clientKey(c);
  if (options.limit && !options.limit.sockets.allows(address)) {
    options.limit.onRefused?.();
    return { ok: false, response: errorResponse(429, "too_many_connections", options.limit.message) };
  }
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(req, options.upgrade ?? {});
  } catch (err) {
    return {
      ok: false,
      response: errorResponse(400, "bad_request", `invalid websocket upgrade: ${(err as Error).message}`),
    };
  }
  options.limit?.sockets.track(address, upgraded.socket);
  return { ok: true, ...upgraded, address };
}
