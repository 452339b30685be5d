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
