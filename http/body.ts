/** Request body decoding (JSON or MessagePack) and validation with zod, at the edge. */
import { decode as decodeMsgpack } from "@msgpack/msgpack";
import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "./errors.ts";
import { parseOr422 } from "./validation.ts";

/** The encodings the service accepts on request bodies. */
export type BodyEncoding = "json" | "msgpack";

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

/** Why a body is refused before it is decoded: it nests too deep, or holds too many containers. */
export type ShapeProblem = "too_deep" | "too_many" | null;

/** Maps a content-type header to an encoding, or null when it is neither JSON nor msgpack. */
export function encodingOf(contentType: string | undefined | null): BodyEncoding | null {
  if (!contentType) return null;
  if (contentType === "application/json") return "json"; // what agents send: no parsing
  if (contentType === "application/msgpack") return "msgpack";
  const mime = contentType.split(";", 1)[0]!.trim().toLowerCase();
  if (mime === "application/json" || (mime.startsWith("application/") && mime.endsWith("+json"))) {
    return "json";
  }
  if (
    mime === "application/msgpack" || mime === "application/x-msgpack" ||
    mime === "application/vnd.msgpack"
  ) {
    return "msgpack";
  }
  return null;
}

const UNREADABLE = () => {
  throw new AppError(400, "bad_request", "request body could not be read");
};
const asBytes = (body: ArrayBuffer) => new Uint8Array(body);

/** Reads at most `limit` bytes of a request body; more is a 413, whatever Content-Length said. */
export function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared === null) return readStream(req, limit);
  if (Number(declared) > limit) {
    return Promise.reject(new AppError(413, "payload_too_large", `request body exceeds ${limit} bytes`));
  }
  // Framed by Content-Length (checked above): one read, no stream pumping. `req.body` is not
  // touched here: making the stream would take Deno off its whole-body fast path. (No async
  // function here: this is every report's path, and the one promise chain allocates less.)
  return req.arrayBuffer().then(asBytes, UNREADABLE);
}

/** A body without Content-Length (chunked), read until `limit` bytes. */
async function readStream(req: Request, limit: number): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new AppError(413, "payload_too_large", `request body exceeds ${limit} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(400, "bad_request", "request body could not be read");
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Makes a decoded msgpack value JSON-compatible in place, in one walk without recursion
 * (timestamp → ISO string; binary is refused with 422). Its depth was checked on the bytes.
 * 64-bit integers decode to numbers, as in JSON.
 */
function normalizeMsgpack(value: unknown): unknown {
  value = convert(value);
  const stack: object[] = [];
  if (value !== null && typeof value === "object") stack.push(value);
  while (stack.length > 0) {
    const record = stack.pop() as Record<string, unknown>;
    for (const key in record) {
      let child = record[key];
      if (child !== null && typeof child !== "string" && typeof child !== "number") {
        child = record[key] = convert(child);
      }
      if (child !== null && typeof child === "object") stack.push(child);
    }
  }
  return value;
}

function shapeError(problem: "too_deep" | "too_many"): AppError {
  return problem === "too_deep"
    ? new AppError(422, "too_deep", `request body nests deeper than ${MAX_DEPTH} levels`)
    : new AppError(
      422,
      "too_many_values",
      `request body holds more objects and arrays than its size allows (${MAX_CONTAINERS}, or one per ${BYTES_PER_CONTAINER} bytes)`,
    );
}

function convert(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    throw new AppError(422, "invalid_body", "binary values are not accepted in the body");
  }
  if (value instanceof Date) {
    // A timestamp beyond ±8.64e15 ms decodes to an invalid Date, which has no ISO string.
    if (Number.isNaN(value.getTime())) {
      throw new AppError(422, "invalid_body", "a timestamp in the body is out of range");
    }
    return value.toISOString();
  }
  return value;
}

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
  if (moreOpeningsThan(text, maxDepth)) {
    const problem = jsonShape(text, maxDepth);
    if (problem !== null) return problem === "too_deep" ? TOO_DEEP : TOO_MANY;
  }
  return JSON.parse(text);
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
 * `maxContainers` of them, from its characters, before anything is parsed: brackets outside
 * strings are counted. Same verdict as a walk of the parsed value (http/body_test.ts). Strings are
 * skipped with indexOf (a quote is closed unless an odd run of backslashes precedes it); an
 * unterminated string is left for the parser to refuse.
 */
export function jsonShape(
  text: string,
  maxDepth = MAX_DEPTH,
  maxContainers = containerLimit(text.length),
): ShapeProblem {
  let depth = 0;
  let containers = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      do {
        i = text.indexOf('"', i + 1);
        if (i === -1) return null;
      } while (escaped(text, i));
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return "too_deep";
      if (++containers > maxContainers) return "too_many";
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return null;
}

/** Whether the quote at `quote` is escaped: an odd number of backslashes right before it. */
function escaped(text: string, quote: number): boolean {
  let k = quote - 1;
  while (k >= 0 && text.charCodeAt(k) === 0x5c) k--;
  return (quote - 1 - k) % 2 === 1;
}

/**
 * Whether MessagePack bytes nest maps/arrays deeper than `maxDepth` levels, or hold more than
 * `maxContainers` of them, read from the type bytes before anything is decoded (the decoder would
 * build them all first). Malformed or truncated input is left for the decoder to refuse.
 */
export function msgpackShape(
  bytes: Uint8Array,
  maxDepth = MAX_DEPTH,
  maxContainers = containerLimit(bytes.byteLength),
): ShapeProblem {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  /** Items still to read in each open container; the first entry is the top-level value. */
  const remaining: number[] = [1];
  let pos = 0;
  const n = bytes.byteLength;
  let containers = 0;
  while (remaining.length > 0 && pos < n) {
    remaining[remaining.length - 1]!--;
    const b = bytes[pos++]!;
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
    const container = (b >= 0x80 && b <= 0x9f) || (b >= 0xdc && b <= 0xdf);
    if (container) {
      if (remaining.length > maxDepth) return "too_deep"; // this container opens level remaining.length
      if (++containers > maxContainers) return "too_many";
      if (children > 0) remaining.push(children);
    }
    while (remaining.length > 0 && remaining[remaining.length - 1] === 0) remaining.pop();
  }
  return null;
}

const utf8 = new TextDecoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * UTF-8 bytes as text; invalid UTF-8 throws. The lenient decoder is three times faster than the
 * fatal one: only a text holding U+FFFD (a replaced sequence, or a real U+FFFD) is decoded again
 * strictly.
 */
export function decodeUtf8(bytes: Uint8Array): string {
  const text = utf8.decode(bytes);
  return text.includes("\uFFFD") ? strictUtf8.decode(bytes) : text;
}

/** Decodes raw bytes; an empty body is an empty map. Undecodable input is a 400. */
export function decodeBytes(bytes: Uint8Array, encoding: BodyEncoding): unknown {
  if (bytes.byteLength === 0) return {};
  // msgpack's shape is checked on the bytes, before the value is built; JSON's by parseJson.
  const problem = encoding === "msgpack" ? msgpackShape(bytes) : null;
  if (problem !== null) throw shapeError(problem);
  let value: unknown;
  try {
    value = encoding === "json" ? parseJson(decodeUtf8(bytes)) : decodeMsgpack(bytes, { useBigInt64: false });
  } catch {
    throw new AppError(400, "malformed_body", `request body is not valid ${encoding}`);
  }
  if (value === TOO_DEEP) throw shapeError("too_deep");
  if (value === TOO_MANY) throw shapeError("too_many");
  // JSON.parse output needs no conversion.
  return encoding === "msgpack" ? normalizeMsgpack(value) : value;
}

export interface ReadBodyOptions {
  /** Maximum body size in bytes (413 above it). */
  limit: number;
  /** Whether a missing content type is tolerated for an empty body (auth API) or not (protocol). */
  allowEmptyWithoutType: boolean;
}

/**
 * Reads, decodes and validates a request body. Errors: 415 (content type), 413 (size),
 * 400 (undecodable), 422 (not a map, too deep, or the schema rejects it).
 */
export async function readBody<S extends z.ZodType>(
  c: Context,
  schema: S,
  options: ReadBodyOptions,
): Promise<{ value: z.infer<S>; encoding: BodyEncoding }> {
  const encoding = encodingOf(c.req.header("content-type"));
  const bytes = await readLimited(c.req.raw, options.limit);
  if (encoding === null) {
    if (!(options.allowEmptyWithoutType && bytes.byteLength === 0)) {
      throw new AppError(
        415,
        "unsupported_media_type",
        "send content-type application/json or application/msgpack",
      );
    }
  }
  return { value: validate(schema, decodeMap(bytes, encoding ?? "json")), encoding: encoding ?? "json" };
}

/** Decodes raw bytes that must hold a map (an empty body is one); anything else is a 422. */
export function decodeMap(bytes: Uint8Array, encoding: BodyEncoding): Record<string, unknown> {
  const decoded = decodeBytes(bytes, encoding);
  if (decoded === null || typeof decoded !== "object" || Array.isArray(decoded)) {
    throw new AppError(422, "invalid_body", "request body must be a map");
  }
  return decoded as Record<string, unknown>;
}

/** Validates with zod; failures are 422 `invalid_body` naming the first offending field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  return parseOr422(schema, value, "invalid_body");
}
