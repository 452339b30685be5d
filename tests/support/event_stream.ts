/** A server-sent events test client that reads a feed as web/app.js does. */

export interface EventStreamClient<T> {
  /** Every event's data, as sent. */
  texts: string[];
  /** The frames: each event parsed, a snapshot's `parts` joined first (as the page does). */
  frames: T[];
  /** Ends the stream and resolves once its reader has stopped. */
  close(): Promise<void>;
}

/** Opens `url` as an event stream (rejecting unless it answers 200) and collects its events. */
export async function eventStreamClient<T = unknown>(
  url: string,
  headers: Record<string, string> = {},
): Promise<EventStreamClient<T>> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { accept: "text/event-stream", ...headers },
    signal: abort.signal,
  });
  if (res.status !== 200 || !res.headers.get("content-type")?.startsWith("text/event-stream")) {
    await res.body?.cancel();
    throw new Error(`event stream ${url}: ${res.status} ${res.headers.get("content-type")}`);
  }
  const texts: string[] = [];
  const frames: T[] = [];
  let parts: { count: number; texts: string[] } | null = null;
  const onEvent = (text: string) => {
    texts.push(text);
    if (parts !== null) {
      parts.texts.push(text);
      if (parts.texts.length < parts.count) return;
      text = parts.texts.join("");
      parts = null;
    }
    const frame = JSON.parse(text);
    if (frame.type === "parts") parts = { count: frame.count, texts: [] };
    else frames.push(frame);
  };
  const reading = (async () => {
    let buffer = "";
    for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
        const lines = buffer.slice(0, end).split("\n");
        buffer = buffer.slice(end + 2);
        const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
        if (data.length > 0) onEvent(data.join("\n"));
      }
    }
  })().catch(() => {}); // aborted, or the server ended the stream
  return {
    texts,
    frames,
    async close() {
      abort.abort();
      await reading;
    },
  };
}
