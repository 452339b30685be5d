/**
 * The MessagePack decoder of request bodies: one instance for every body, with a map-key cache of
 * its own. The library's (16 keys per key length, replaced at random) held too few names: 490,000
 * keys cycling through 10,000 names (http/body_shape.ts allows that many) decoded each key again,
 * 1 µs apiece, 500 ms for one 8 MB body. Here every name seen recently is one lookup, and a key
 * that is not valid UTF-8 is refused (the library decoded it leniently).
 */
import { Decoder } from "@msgpack/msgpack";

/** Longest key cached (longer ones are decoded each time, as the library does past 16 bytes). */
const MAX_KEY_BYTES = 64;
/** Names kept; when full the cache starts again (a body holds at most MAX_KEY_NAMES of them). */
const MAX_NAMES = 16_384;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Map keys by a hash of their bytes, seeded per process (names cannot be made to collide on
 * purpose and grow one bucket), each bucket compared byte by byte.
 */
class KeyCache {
  #seed = crypto.getRandomValues(new Uint32Array(1))[0]! | 0;
  #buckets = new Map<number, Array<{ bytes: Uint8Array; text: string }>>();
  #size = 0;

  canBeCached(byteLength: number): boolean {
    return byteLength > 0 && byteLength <= MAX_KEY_BYTES;
  }

  decode(bytes: Uint8Array, offset: number, byteLength: number): string {
    const end = offset + byteLength;
    let h = this.#seed;
    for (let i = offset; i < end; i++) h = Math.imul(h ^ bytes[i]!, 16777619);
    let bucket = this.#buckets.get(h);
    if (bucket !== undefined) {
      next: for (const entry of bucket) {
        if (entry.bytes.length !== byteLength) continue;
        for (let i = 0; i < byteLength; i++) if (entry.bytes[i] !== bytes[offset + i]) continue next;
        return entry.text;
      }
    }
    const text = strictUtf8.decode(bytes.subarray(offset, end));
    if (this.#size >= MAX_NAMES) {
      this.#buckets.clear();
      this.#size = 0;
      bucket = undefined;
    }
    const entry = { bytes: bytes.slice(offset, end), text };
    if (bucket === undefined) this.#buckets.set(h, [entry]);
    else bucket.push(entry);
    this.#size++;
    return text;
  }
}

/** 64-bit integers decode to numbers, as in JSON. */
const decoder = new Decoder({ useBigInt64: false, keyDecoder: new KeyCache() });

/** Decodes one MessagePack value (throws on malformed input, as the library's `decode`). */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
