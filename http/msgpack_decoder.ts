/**
 * The MessagePack decoder of request bodies: one instance for every body, with a map-key cache of
 * its own. The library's (16 keys per key length, replaced at random) held too few names: 490,000
 * keys cycling through 10,000 names (http/body_shape.ts allows that many) decoded each key again,
 * 1 µs apiece, 500 ms for one 8 MB body. Here a name seen recently is one table slot. A key or a
 * string value that is not valid UTF-8 is refused, as in JSON bodies (the library decodes them
 * leniently: "U8\xc3\x28" and "U8\xc3\xa8" were one agent id).
 */
import { Decoder } from "@msgpack/msgpack";
import { AppError } from "./errors.ts";

/** Longest key cached (longer ones are decoded each time, as the library does past 16 bytes). */
const MAX_KEY_BYTES = 64;
/** Slots of the cache (a power of two): names of a body, at most MAX_KEY_NAMES, mostly each in its own. */
const SLOTS = 1 << 18;

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Map keys in a direct-mapped table: a slot per hash of the key's bytes (seeded per process, so
 * names cannot be chosen to share slots), compared byte by byte; a new name takes its slot over.
 */
class KeyCache {
  #seed = crypto.getRandomValues(new Uint32Array(1))[0]! | 0;
  #bytes: Array<Uint8Array | undefined> = new Array(SLOTS).fill(undefined);
  #texts: string[] = new Array(SLOTS).fill("");

  canBeCached(byteLength: number): boolean {
    return byteLength > 0 && byteLength <= MAX_KEY_BYTES;
  }

  decode(bytes: Uint8Array, offset: number, byteLength: number): string {
    const end = offset + byteLength;
    let h = this.#seed;
    for (let i = offset; i < end; i++) h = Math.imul(h ^ bytes[i]!, 16777619);
    const slot = (h ^ (h >>> 16)) & (SLOTS - 1);
    const known = this.#bytes[slot];
    if (known !== undefined && known.length === byteLength) {
      let same = true;
      for (let i = 0; i < byteLength; i++) {
        if (known[i] !== bytes[offset + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.#texts[slot]!;
    }
    const text = strictUtf8.decode(bytes.subarray(offset, end));
    this.#bytes[slot] = bytes.slice(offset, end);
    this.#texts[slot] = text;
    return text;
  }
}

/** A bin (a key, or a value once decoded) as text: UTF-8 only, as str. */
export function binText(bytes: Uint8Array): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new AppError(
      400,
      "malformed_body",
      "request body is not valid msgpack: a bin that is not UTF-8 text",
    );
  }
}

/** Map keys: str (cached), bin read as text, and integers as the library reads them. */
function mapKey(key: unknown): string | number {
  if (typeof key === "string" || typeof key === "number") return key;
  if (key instanceof Uint8Array) return binText(key);
  throw new AppError(
    400,
    "malformed_body",
    "request body is not valid msgpack: a map key that is not a string",
  );
}

/** 64-bit integers decode to numbers, as in JSON. */
const decoder = new Decoder({ useBigInt64: false, keyDecoder: new KeyCache(), mapKeyConverter: mapKey });

/** What of the library's Decoder (typed private; @msgpack/msgpack 3.1.3) the strict strings need. */
interface DecoderInternals {
  bytes: Uint8Array;
  pos: number;
  decodeUtf8String(byteLength: number, headerOffset: number): string;
}
const internals = decoder as unknown as DecoderInternals;
const lenient = internals.decodeUtf8String;
if (typeof lenient !== "function") {
  throw new Error("@msgpack/msgpack: no decodeUtf8String (another version?)");
}
/** Every string, key or value: ASCII (hashes, numbers) as the library decodes it, the rest strictly. */
internals.decodeUtf8String = function (this: DecoderInternals, byteLength: number, headerOffset: number) {
  const start = this.pos + headerOffset;
  const text = lenient.call(this, byteLength, headerOffset);
  const bytes = this.bytes;
  const end = start + byteLength;
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) return strictUtf8.decode(bytes.subarray(start, end));
  }
  return text;
};

/** Decodes one MessagePack value (throws on malformed input, as the library's `decode`). */
export function decodeMsgpack(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}
