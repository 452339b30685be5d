/**
 * The shape of a body or frame before it is decoded: how deep it nests and how many objects and
 * arrays it holds, read from JSON text or MessagePack bytes, so that neither a deep nor a dense
 * value is ever built (http/body.ts refuses them with 422, ingress/ethstats/frames.ts drops them).
 */

/** Maximum nesting depth of a decoded body; deeper input is refused with 422. */
export const MAX_DEPTH = 64;
/**
 * Objects and arrays a body (or an ethstats frame) may hold: MAX_CONTAINERS, or one per
 * BYTES_PER_CONTAINER bytes of a larger one; more is refused with 422. Each costs the heap far
 * more than its 2-3 characters or 1 byte on the wire (8 MB of `{},` is 2.6 million objects, over
 * 150 MB), while real reports carry content in theirs: a go-ethereum history frame of 50 blocks
 * of 2,000 transactions is 100,000 `{"hash": …}` objects of about 80 bytes each.
 */
export const MAX_CONTAINERS = 100_000;
export const BYTES_PER_CONTAINER = 16;

/** The most objects and arrays a body or frame of `size` bytes (or characters) may hold. */
export function containerLimit(size: number): number {
  return Math.max(MAX_CONTAINERS, Math.floor(size / BYTES_PER_CONTAINER));
}

/**
 * Keys of objects (maps) a body or frame may hold: as many as objects and arrays (containerLimit),
 * and at most MAX_KEY_NAMES different names. A key whose name V8 has not seen costs 1-2 µs to
 * build (JSON.parse and the msgpack decoder alike): 8 MB of distinct short keys blocked the event
 * loop for 2-3 s, 99,000 of them in 0.7 MB for 150 ms; a name seen before costs ~0.08 µs. Real
 * reports repeat a few dozen names however large they are (a POA agent history with full
 * transactions, EIP-1559 ones too: one key per ~30 bytes, ~40 names).
 */
export const MAX_KEY_NAMES = 10_000;

/** Below this many characters a JSON text cannot hold more than MAX_KEY_NAMES keys (`"":0,` each). */
const KEYS_POSSIBLE_FROM = 5 * MAX_KEY_NAMES;

/**
 * The names of keys seen, as two 32-bit hashes with seeds of this process (not guessable from
 * outside, so names cannot be made to collide on purpose) joined into one number.
 */
class KeyNames {
  static #seeds = crypto.getRandomValues(new Uint32Array(2));
  #names = new Set<number>();
  #a = 0;
  #b = 0;

  start(): void {
    this.#a = KeyNames.#seeds[0]! | 0;
    this.#b = KeyNames.#seeds[1]! | 0;
  }

  unit(u: number): void {
    this.#a = Math.imul(this.#a ^ u, 16777619);
    this.#b = Math.imul(this.#b ^ u, 2246822519);
  }

  /** Ends a name; false once more than MAX_KEY_NAMES different ones were seen. */
  end(): boolean {
    this.#names.add((this.#a >>> 0) * 2097152 + ((this.#b >>> 0) & 0x1fffff));
    return this.#names.size <= MAX_KEY_NAMES;
  }
}

/** Why a body is refused before it is decoded: it nests too deep, or holds too many containers or keys. */
export type ShapeProblem = "too_deep" | "too_many" | null;

/** What `parseJson` returns for text that nests too deep, or holds too many containers. */
export const TOO_DEEP: unique symbol = Symbol("too deep");
export const TOO_MANY: unique symbol = Symbol("too many");

/**
 * Parses JSON text nested at most `maxDepth` arrays/objects deep and holding at most
 * containerLimit(size) of them: the value, or TOO_DEEP / TOO_MANY. Text that is not JSON throws
 * JSON.parse's SyntaxError. Neither is ever built: only a text with more than `maxDepth` opening
 * brackets can be either, and only such a text is scanned before it is parsed (a count by indexOf
 * costs a few of the scan's 0.2–0.5 µs on a report; parsing first and walking the value would let
 * 32 KiB nested 16,000 deep cost 4 ms before its 422).
 */
export function parseJson(text: string, maxDepth = MAX_DEPTH): unknown | typeof TOO_DEEP | typeof TOO_MANY {
  if (
    moreOpeningsThan(text, maxDepth) ||
    (text.length >= KEYS_POSSIBLE_FROM && moreThan(text, ":", MAX_KEY_NAMES))
  ) {
    const problem = jsonShape(text, maxDepth);
    if (problem !== null) return problem === "too_deep" ? TOO_DEEP : TOO_MANY;
  }
  return JSON.parse(text);
}

/** Whether `text` holds more than `max` of `char`, inside strings or not. */
function moreThan(text: string, char: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf(char); i !== -1; i = text.indexOf(char, i + 1)) if (++count > max) return true;
  return false;
}

/** Whether `text` holds more than `max` `{` and `[` together, inside strings or not. */
function moreOpeningsThan(text: string, max: number): boolean {
  let count = 0;
  for (let i = text.indexOf("{"); i !== -1; i = text.indexOf("{", i + 1)) if (++count > max) return true;
  for (let i = text.indexOf("["); i !== -1; i = text.indexOf("[", i + 1)) if (++count > max) return true;
  return false;
}

/**
 * Whether JSON text nests arrays/objects deeper than `maxDepth` levels, or holds more than
 * `maxContainers` of them, or as many keys, or keys of more than MAX_KEY_NAMES names, from its
 * characters, before anything is parsed: brackets and colons outside strings are counted (and the
 * names before the colons, in a second pass when there are more than MAX_KEY_NAMES keys). Same
 * verdict as a walk of the parsed value (http/body_test.ts). Strings are skipped with indexOf (a
 * quote is closed unless an odd run of backslashes precedes it); an unterminated string is left
 * for the parser to refuse.
 */
export function jsonShape(
  text: string,
  maxDepth = MAX_DEPTH,
  maxContainers = containerLimit(text.length),
  names?: KeyNames,
): ShapeProblem {
  const maxKeys = containerLimit(text.length);
  let depth = 0;
  let containers = 0;
  let keys = 0;
  /** The last string's opening quote and closing quote. */
  let open = -1;
  let close = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      open = i;
      do {
        i = text.indexOf('"', i + 1);
        if (i === -1) return null;
      } while (escaped(text, i));
      close = i;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return "too_deep";
      if (++containers > maxContainers) return "too_many";
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x3a) {
      if (++keys > maxKeys) return "too_many";
      if (names) {
        names.start();
        for (let k = open + 1; k < close; k++) names.unit(text.charCodeAt(k));
        if (!names.end()) return "too_many";
      }
    }
  }
  return !names && keys > MAX_KEY_NAMES ? jsonShape(text, maxDepth, maxContainers, new KeyNames()) : null;
}

/** Whether the quote at `quote` is escaped: an odd number of backslashes right before it. */
function escaped(text: string, quote: number): boolean {
  let k = quote - 1;
  while (k >= 0 && text.charCodeAt(k) === 0x5c) k--;
  return (quote - 1 - k) % 2 === 1;
}

/**
 * Whether MessagePack bytes nest maps/arrays deeper than `maxDepth` levels, or hold more than
 * `maxContainers` of them, or as many map keys, or keys of more than MAX_KEY_NAMES names (in a
 * second pass when there are more than MAX_KEY_NAMES keys), read from the type bytes before
 * anything is decoded (the decoder would build them all first). Malformed or truncated input is
 * left for the decoder to refuse.
 */
export function msgpackShape(
  bytes: Uint8Array,
  maxDepth = MAX_DEPTH,
  maxContainers = containerLimit(bytes.byteLength),
  names?: KeyNames,
): ShapeProblem {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** Items still to read in each open container; the first entry is the top-level value. */
  const remaining: number[] = [1];
  /** Whether each open container is a map (its even-numbered items are keys): second pass only. */
  const maps: boolean[] = [false];
  let pos = 0;
  const n = bytes.byteLength;
  let containers = 0;
  const maxKeys = containerLimit(n);
  let keys = 0;
  while (remaining.length > 0 && pos < n) {
    const top = remaining.length - 1;
    const key = names !== undefined && maps[top] === true && remaining[top]! % 2 === 0;
    remaining[top]!--;
    const b = bytes[pos++]!;
    // str and bin keys (a bin key is read as text too).
    if (key && ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb) || (b >= 0xc4 && b <= 0xc6))) {
      const head = b <= 0xbf ? 0 : b === 0xd9 || b === 0xc4 ? 1 : b === 0xda || b === 0xc5 ? 2 : 4;
      if (pos + head > n) return null;
      const length = b <= 0xbf
        ? b & 0x1f
        : head === 1
        ? bytes[pos]!
        : head === 2
        ? view.getUint16(pos)
        : view.getUint32(pos);
      names.start();
      for (let k = pos + head, end = Math.min(n, k + length); k < end; k++) names.unit(bytes[k]!);
      if (!names.end()) return "too_many";
    }
    let children = 0;
    let skip = 0;
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b <= 0x8f) children = (b & 0x0f) * 2;
    else if (b <= 0x9f) children = b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      const need = (k: number) => pos + k <= n;
      switch (b) {
        case 0xc4: // bin8, str8
        case 0xd9:
          if (!need(1)) return null;
          skip = 1 + bytes[pos]!;
          break;
        case 0xc5: // bin16, str16
        case 0xda:
          if (!need(2)) return null;
          skip = 2 + view.getUint16(pos);
          break;
        case 0xc6: // bin32, str32
        case 0xdb:
          if (!need(4)) return null;
          skip = 4 + view.getUint32(pos);
          break;
        case 0xc7: // ext8/16/32: length, type, data
          if (!need(1)) return null;
          skip = 2 + bytes[pos]!;
          break;
        case 0xc8:
          if (!need(2)) return null;
          skip = 3 + view.getUint16(pos);
          break;
        case 0xc9:
          if (!need(4)) return null;
          skip = 5 + view.getUint32(pos);
          break;
        case 0xca: // float32, float64, (u)int8-64
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xd4: // fixext 1, 2, 4, 8, 16: type + data
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc: // array16/32, map16/32
          if (!need(2)) return null;
          children = view.getUint16(pos);
          skip = 2;
          break;
        case 0xdd:
          if (!need(4)) return null;
          children = view.getUint32(pos);
          skip = 4;
          break;
        case 0xde:
          if (!need(2)) return null;
          children = view.getUint16(pos) * 2;
          skip = 2;
          break;
        case 0xdf:
          if (!need(4)) return null;
          children = view.getUint32(pos) * 2;
          skip = 4;
          break;
        default: // 0xc1: never used
          return null;
      }
    }
    pos += skip;
    // An extension value (a timestamp) decodes to an object of its own as well: counted as one, or
    // 8 MB of 3-byte fixext values made 2.6 million of them where 500,000 objects are allowed.
    if (((b >= 0xd4 && b <= 0xd8) || (b >= 0xc7 && b <= 0xc9)) && ++containers > maxContainers) {
      return "too_many";
    }
    const container = (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
    if (container) {
      const map = b <= 0x8f || b >= 0xde;
      // Each element takes a byte at least: more than the bytes left is truncated input, which the
      // decoder refuses (400); counted as the bytes left, so depth is still checked on what follows.
      // A 5-byte map header declaring 2^32 entries was 422 too_many_values. A map's count stays
      // even (key, value): an odd one made the names pass take keys for values.
      const left = bytes.byteLength - pos;
      children = map ? 2 * Math.min(children / 2, Math.ceil(left / 2)) : Math.min(children, left);
      if (remaining.length > maxDepth) return "too_deep"; // this container opens level remaining.length
      if (++containers > maxContainers) return "too_many";
      if (map && (keys += children / 2) > maxKeys) return "too_many";
      if (children > 0) {
        remaining.push(children);
        if (names) maps[remaining.length - 1] = map;
      }
    }
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) remaining.pop();
  }
  return !names && keys > MAX_KEY_NAMES ? msgpackShape(bytes, maxDepth, maxContainers, new KeyNames()) : null;
}
