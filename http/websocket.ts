/** Websocket helpers shared by the feeds: sends and closes that never throw. */

/** Sends a text frame; false when the socket can no longer send (closing or closed). */
export function trySend(socket: WebSocket, text: string): boolean {
  try {
    socket.send(text);
    return true;
  } catch {
    return false;
  }
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
