/**
 * A server-sent event stream (`text/event-stream`, read by the browser's `EventSource`) with the
 * part of a websocket the feeds use (`FeedSocket`): a read-only feed this way has no channel a
 * client can send on, so no client can make Deno buffer a 64 MiB message before anything checks
 * it (denoland/deno#15809), as any websocket peer can.
 */
import type { Context } from "hono";
import { type AppEnv, clientKey } from "./app_env.ts";
import { errorResponse } from "./errors.ts";
import type { AddressLimit, FeedSocket } from "./websocket.ts";

/**
 * A comment line sent this often: proxies (HAProxy's `timeout server`, 15 s in deploy/haproxy.cfg;
 * nginx's `proxy_read_timeout`, 60 s by default) close a response that sends nothing for longer.
 */
export const HEARTBEAT_MS = 10_000;

const EVENT_STREAM_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-store",
  // nginx would otherwise buffer the response until it is complete.
  "x-accel-buffering": "no",
};

/**
 * Deno is handed an event in slices of at most this many bytes: a peer that does not read holds
 * one slice in Deno, while the rest waits here as views on the event's bytes.
 */
export const CHUNK_BYTES = 64 * 1024;
/**
 * Events encoded lately, by their text, up to this many bytes: every page gets the same update and
 * snapshot, encoded once. (Eight events were kept: a snapshot of more than eight parts, past about
 * 5,000 nodes, was encoded again for every page, 46-76 ms and a copy of 20 MB each.)
 */
const ENCODED_KEPT_BYTES = 64 * 2 ** 20;
const encoded = new Map<string, Uint8Array>();
let encodedBytes = 0;

/** The bytes of the event carrying `data`, shared by every stream that sends the same text. */
export function encodedEvent(data: string): Uint8Array {
  let bytes = encoded.get(data);
  if (bytes === undefined) {
    bytes = encoder.encode(eventText(data));
    encoded.set(data, bytes);
    encodedBytes += bytes.byteLength;
    // The oldest out first; one event over the bound is not kept at all.
    while (encodedBytes > ENCODED_KEPT_BYTES && encoded.size > 0) {
      const [oldest, kept] = encoded.entries().next().value!;
      encoded.delete(oldest);
      encodedBytes -= kept.byteLength;
    }
  }
  return bytes;
}

const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;
const encoder = new TextEncoder();
/** A comment line: keeps the stream from looking idle, and is not an event. */
const COMMENT = encoder.encode(":\n\n");

/** An event's lines: `data: <line>` each (a client joins them with "\n"), then an empty line. */
export function eventText(data: string): string {
  return data.includes("\n") ? `data: ${data.split("\n").join("\ndata: ")}\n\n` : `data: ${data}\n\n`;
}

/**
 * An open event stream and the response that carries it. Events wait here until Deno asks for the
 * next chunk, which it does once it has written the one before: `bufferedAmount` is what waits,
 * and `close` drops it, so a peer that does not read keeps at most the chunk being written (and
 * the kernel's buffers), as a dropped websocket does. The stream is CLOSED, and its `close`
 * listeners called, once Deno has taken its last chunk or the peer has gone.
 */
export function openEventStream(heartbeatMs = HEARTBEAT_MS): { socket: FeedSocket; response: Response } {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let readyState = OPEN;
  const waiting: Uint8Array[] = [];
  let waitingBytes = 0;
  /** Deno asked for a chunk while none waited: the next one goes to it at once. */
  let asked = false;
  const onClose: Array<() => void> = [];

  function finish(): void {
    if (readyState === CLOSED) return;
    readyState = CLOSED;
    clearInterval(heartbeat);
    waiting.length = 0;
    waitingBytes = 0;
    for (const listener of onClose.splice(0)) listener();
  }

  function end(): void {
    try {
      controller.close();
    } catch {
      // the peer went away meanwhile
    }
    finish();
  }

  function push(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.byteLength; at += CHUNK_BYTES) {
      const chunk = bytes.byteLength <= CHUNK_BYTES ? bytes : bytes.subarray(at, at + CHUNK_BYTES);
      if (asked) {
        asked = false;
        controller.enqueue(chunk);
      } else {
        waiting.push(chunk);
        waitingBytes += chunk.byteLength;
      }
    }
  }

  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
    pull(c) {
      const next = waiting.shift();
      if (next !== undefined) {
        waitingBytes -= next.byteLength;
        c.enqueue(next);
      } else if (readyState === OPEN) asked = true;
      else end(); // closing, and the last chunk is written
    },
    cancel: finish, // the peer went away
  }, { highWaterMark: 0 });

  const socket: FeedSocket = {
    get readyState() {
      return readyState;
    },
    get bufferedAmount() {
      return waitingBytes;
    },
    send(text) {
      if (readyState !== OPEN) throw new Error("the event stream is closed");
      push(encodedEvent(text));
    },
    close() {
      if (readyState !== OPEN) return;
      readyState = CLOSING;
      clearInterval(heartbeat);
      waiting.length = 0;
      waitingBytes = 0;
      if (asked) end(); // nothing being written: done now
    },
    addEventListener(type, listener) {
      if (type !== "close") return; // an event stream has no error of its own apart from closing
      if (readyState === CLOSED) queueMicrotask(listener);
      else onClose.push(listener);
    },
  };
  const heartbeat = setInterval(() => push(COMMENT), heartbeatMs);
  // A first comment, so the response starts (and the client's `open` fires) before any event.
  push(COMMENT);
  const response = new Response(body, { headers: EVENT_STREAM_HEADERS });
  return { socket, response };
}

export interface EventStreamOptions {
  /**
   * When this returns a message, the stream (from `address`) is refused with 503 (shutting down,
   * full). Asked after the address limit: a refused stream makes no room.
   */
  unavailable?: (address: string) => string | undefined;
  /** Streams per address; beyond it 429 `too_many_connections` with `message`. */
  limit: { streams: AddressLimit; message: string };
}

export type OpenedStream =
  | { ok: true; socket: FeedSocket; response: Response; address: string }
  | { ok: false; response: Response };

/**
 * The event stream of a read-only feed: 503 when unavailable, 429 past the address limit; the
 * stream counts against its address until it has closed. Callers check credentials first.
 */
export function openFeedStream(c: Context<AppEnv>, options: EventStreamOptions): OpenedStream {
  // Hono answers HEAD with the GET route and drops the body: a stream opened for it would never
  // be read nor cancelled, and would hold its place among the feed's clients for good.
  if (c.req.method !== "GET") {
    return { ok: false, response: new Response(null, { headers: EVENT_STREAM_HEADERS }) };
  }
  const address = clientKey(c);
  if (!options.limit.streams.allows(address)) {
    return { ok: false, response: errorResponse(429, "too_many_connections", options.limit.message) };
  }
  const unavailable = options.unavailable?.(address);
  if (unavailable !== undefined) {
    return { ok: false, response: errorResponse(503, "unavailable", unavailable) };
  }
  const { socket, response } = openEventStream();
  options.limit.streams.track(address, socket);
  return { ok: true, socket, response, address };
}
