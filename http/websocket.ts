/** Websocket helpers shared by every socket: the upgrade, address limits, sends and closes that never throw. */
import type { Context } from "hono";
import { type AppEnv, clientAddress } from "./app_env.ts";
import { errorResponse } from "./errors.ts";

/** Sends a text frame; false when the socket can no longer send (closing or closed). */
export function trySend(socket: WebSocket, text: string): boolean {
  try {
    socket.send(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A client of a broadcast feed (the dashboard feeds): its socket, and the unsent bytes it may
 * have queued before it is closed as too slow (the limit, raised by what its snapshot or replay
 * queued at connect).
 */
export interface FeedClient {
  socket: WebSocket;
  allowance: number;
}

/**
 * Whether a feed client keeps up: false when Deno holds more unsent bytes for it
 * (`bufferedAmount`) than its allowance; once it has caught up to `limit` its allowance returns
 * to `limit`.
 */
export function keepsUp(client: FeedClient, limit: number): boolean {
  const unsent = client.socket.bufferedAmount;
  if (unsent > client.allowance) return false;
  if (unsent <= limit) client.allowance = limit;
  return true;
}

/** Closes a socket with a code and reason; a socket already closing is left as it is. */
export function closeQuietly(socket: WebSocket, code: number, reason: string): void {
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
  track(address: string, socket: WebSocket): void;
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
  const address = clientAddress(c);
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
