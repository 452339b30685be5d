/**
 * One copy per block. Every node of a network reports the same blocks: at a new head, ten
 * thousand nodes send ten thousand equal copies of one block within a second. A block report
 * equal in every field to a recent one (found by hash) is replaced by the copy already kept, so
 * the queues and the receivers' per-node state hold one object per block, not one per node.
 *
 * What it saves is mostly garbage collection: each node's previous block, kept until its next
 * one, died in V8's old generation, and at 10,000 nodes that paid for a major collection at
 * nearly every head, right in the burst (BENCHMARKS.md). Message data is read-only for
 * receivers (core/message.ts), which is what makes sharing one object safe.
 */
import { approxJsonBytes } from "./json_size.ts";
import { dataBody } from "./message.ts";

/** Keeps the recent blocks and hands out the kept copy of an equal one. */
export interface SharedBlocks {
  /** The kept copy when an equal block was reported recently; otherwise `block`, now kept. */
  share<B extends Record<string, unknown>>(block: B): B;
  /** Reports answered with a kept copy, and blocks kept (at most the capacity). */
  stats(): { shared: number; kept: number };
}

/**
 * An agent payload (`{type, body}`) whose block body is the kept copy when there is one: other
 * payloads, and a block that is new, come back as they are.
 */
export function shareBlockPayload(
  blocks: SharedBlocks,
  data: Record<string, unknown>,
): Record<string, unknown> {
  const body = dataBody(data);
  if (data["type"] !== "block" || body === undefined) return data;
  const shared = blocks.share(body);
  return shared === body ? data : { ...data, body: shared };
}

/** Blocks kept by default: many heads of several networks, ~1 KB each. */
const DEFAULT_CAPACITY = 256;
/**
 * A larger block is passed on without being kept (kept blocks are held beyond their messages):
 * what the store holds stays under capacity × this, 64 MiB by default, whatever agents send.
 */
const DEFAULT_MAX_BLOCK_BYTES = 256 * 1024;

/**
 * Creates the store: blocks by hash, least recently reported dropped first. A block whose
 * fields differ from the kept one of the same hash (another client's encoding, a lying node)
 * replaces it and is passed on as it came; it is never merged with it.
 */
export function createSharedBlocks(
  capacity = DEFAULT_CAPACITY,
  maxBlockBytes = DEFAULT_MAX_BLOCK_BYTES,
): SharedBlocks {
  const recent = new Map<string, Record<string, unknown>>();
  let shared = 0;
  return {
    share(block) {
      const hash = block["hash"];
      if (typeof hash !== "string") return block;
      const known = recent.get(hash);
      recent.delete(hash); // re-inserted below: map order = least recently reported first
      if (known !== undefined && sameJson(known, block)) {
        recent.set(hash, known);
        shared++;
        return known as typeof block;
      }
      if (approxJsonBytes(block, maxBlockBytes) > maxBlockBytes) return block;
      recent.set(hash, block);
      if (recent.size > capacity) recent.delete(recent.keys().next().value!);
      return block;
    },
    stats() {
      return { shared, kept: recent.size };
    },
  };
}

/**
 * Equality of two decoded JSON (or msgpack) values: same keys, same values, arrays in order.
 * Anything else (a msgpack timestamp's Date, binary) is equal only to itself.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(a);
  if ((proto !== Object.prototype && proto !== null) || Object.getPrototypeOf(b) !== proto) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(right, key) || !sameJson(left[key], right[key])) return false;
  }
  return true;
}
