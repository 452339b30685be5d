/**
 * Bytes held for clients that are slow to send or to read, per client (a user, an address) and in
 * all. Request bodies (http/body.ts): Deno sets aside a body's whole Content-Length when it starts
 * reading it, before the bytes come, so an agent's connections that declared 8 MB and sent 60 bytes
 * cost 8–16 MB each (1,000 of them took a service to 7.7 GB). Responses (budgetedJsonBytes): a large
 * answer waits whole in memory until its client reads it, so requests never read grew a service by
 * 80 MB/s within the read API's rate limit. What is past the budget is refused at once.
 */
import type { Context } from "hono";
import { AppError } from "./errors.ts";

export interface ByteBudgetOptions {
  /** Bytes one client may hold at once. */
  perKeyBytes: number;
  /** Bytes all clients may hold at once. */
  totalBytes: number;
}

export interface ByteBudget {
  /** Reserves `bytes` for `key`; false, with nothing reserved, past either bound. */
  reserve(key: string, bytes: number): boolean;
  /** Gives back what `reserve` took (all at once, or in parts). */
  release(key: string, bytes: number): void;
  stats(): { bytes: number; refused: number };
}

export function createByteBudget(options: ByteBudgetOptions): ByteBudget {
  const byKey = new Map<string, number>();
  let total = 0;
  let refused = 0;
  return {
    reserve(key, bytes) {
      // A size that is not a count (NaN from a header "5, 5") would make every later check false.
      if (!Number.isSafeInteger(bytes) || bytes < 0) return false;
      const held = byKey.get(key) ?? 0;
      if (total + bytes > options.totalBytes || held + bytes > options.perKeyBytes) {
        refused++;
        return false;
      }
      total += bytes;
      byKey.set(key, held + bytes);
      return true;
    },
    release(key, bytes) {
      total -= bytes;
      const left = (byKey.get(key) ?? 0) - bytes;
      if (left > 0) byKey.set(key, left);
      else byKey.delete(key);
    },
    stats: () => ({ bytes: total, refused }),
  };
}

/** Responses up to this size are not counted: the socket's buffers take them whole. */
const UNCOUNTED_RESPONSE_BYTES = 64 * 1024;
/** A counted response goes out in pieces of this size, each given back once the socket took it. */
const RESPONSE_CHUNK = 64 * 1024;

/**
 * A JSON text (already encoded: read, never changed, so answers may share it) as a response whose
 * bytes count against `budget` under `key` until the client has read them (or gone); past the
 * budget 429 `unread_responses` + `Retry-After`.
 */
export function budgetedJsonBytes(
  c: Context,
  bytes: Uint8Array<ArrayBuffer>,
  budget: ByteBudget,
  key: string,
): Response {
  // The length is known: a streamed answer says it too, and a HEAD's is not counted again by
  // copying the body (http/head_length.ts).
  const headers = { "content-type": "application/json", "content-length": String(bytes.byteLength) };
  // HEAD: Hono answers it with the GET route's headers and drops the body unread, so a stream
  // here would never give its bytes back.
  if (bytes.byteLength <= UNCOUNTED_RESPONSE_BYTES || c.req.raw.method === "HEAD") {
    return c.body(bytes, 200, headers);
  }
  if (!budget.reserve(key, bytes.byteLength)) {
    throw new AppError(
      429,
      "unread_responses",
      "too many large answers are still unread (to this address, or in all); read them, then ask again",
      { "retry-after": "1" },
    );
  }
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    // Pulled as the socket drains: what the client has not read yet stays counted.
    pull(controller) {
      const end = Math.min(sent + RESPONSE_CHUNK, bytes.byteLength);
      controller.enqueue(bytes.subarray(sent, end));
      budget.release(key, end - sent);
      sent = end;
      if (sent === bytes.byteLength) controller.close();
    },
    cancel() {
      budget.release(key, bytes.byteLength - sent);
      sent = bytes.byteLength;
    },
  }, { highWaterMark: 0 });
  return c.body(body, 200, headers);
}
