/** A websocket test client that collects parsed JSON frames. */

export interface WsClient<T> {
  frames: T[];
  /** Closes the socket and resolves once it is closed. */
  close(): Promise<void>;
}

/** Opens a websocket (rejecting if it fails to open) and collects its frames as parsed JSON. */
export async function wsClient<T = unknown>(
  url: string,
  headers: Record<string, string> = {},
): Promise<WsClient<T>> {
  const ws = new WebSocket(url, { headers });
  const frames: T[] = [];
  ws.onmessage = (e) => frames.push(JSON.parse(e.data));
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error(`websocket ${url} failed`));
  });
  return {
    frames,
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.onclose = () => resolve();
        ws.close();
      }),
  };
}
