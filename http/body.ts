/** Request body decoding (JSON or MessagePack) and validation with zod, at the edge. */
import type { Context } from "hono";
import type { z } from "zod";
import { ExtData } from "@msgpack/msgpack";
import { AppError } from "./errors.ts";
import type { ByteBudget } from "./byte_budget.ts";
import { binText, decodeMsgpack } from "./msgpack_decoder.ts";
import { parseOr422 } from "./validation.ts";
import {
  BYTES_PER_CONTAINER,
  MAX_CONTAINERS,
  MAX_DEPTH,
  MAX_KEY_NAMES,
  msgpackShape,
  parseJson,
  TOO_DEEP,
  TOO_MANY,
} from "./body_shape.ts";

/** The encodings the service accepts on request bodies. */
export type BodyEncoding = "json" | "msgpack";

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

/**
 * A body with a content coding (gzip, br…) is 415: the service reads bodies as they are, so a
 * compressed one was a 400 "not valid json", and plain JSON labelled gzip was taken as it was.
 */
export function refuseContentCoding(req: Request): void {
  const coding = req.headers.get("content-encoding");
  if (coding === null || coding.trim().toLowerCase() === "identity") return;
  throw new AppError(
    415,
    "unsupported_media_type",
    `content-encoding ${JSON.stringify(coding.slice(0, 64))} is not supported: send the body uncompressed`,
  );
}

/**
 * A route that reads no body still refuses one that is neither JSON nor MessagePack (DESIGN:
 * requests with a body send one of those, else 415); the body is left unread.
 */
export function refuseUnreadBody(req: Request): void {
  // By the headers: Deno.serve gives a DELETE without any body a (empty) body stream.
  const length = req.headers.get("content-length");
  const sent = req.headers.has("transfer-encoding") || (length !== null && length.trim() !== "0");
  if (!sent || encodingOf(req.headers.get("content-type")) !== null) return;
  throw new AppError(
    415,
    "unsupported_media_type",
    "this route takes no body; one sent anyway must be application/json or application/msgpack",
  );
}

const UNREADABLE = () => {
  throw new AppError(400, "bad_request", "request body could not be read");
};
const asBytes = (body: ArrayBuffer) => new Uint8Array(body);

export interface ReadLimits {
  /** Most bytes of the body (413 above it, whatever Content-Length said). */
  limit: number;
  /** Bytes of bodies being read, per user and in all; past it 503 (http/byte_budget.ts). */
  budget?: ByteBudget;
  /** Whose body it is (authenticated before its body is read). */
  user?: string;
}

/**
 * Bodies this small are not counted against the budget (every report's path stays as it was):
 * what they can set aside is bounded by the connections, 20,000 × 4 KiB at most here.
 */
const UNCOUNTED_BODY_BYTES = 4096;

const tooLarge = (limit: number) =>
  new AppError(413, "payload_too_large", `request body exceeds ${limit} bytes`);
const BUSY = () =>
  new AppError(
    503,
    "overloaded",
    "too many request bodies are being received (from this user, or in all); send this one again",
    { "retry-after": "1" },
  );

/** Reads at most `limit` bytes of a request body, within the budget of bodies being read. */
export function readLimited(req: Request, limits: ReadLimits): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  const size = declared === null ? NaN : Number(declared);
  // Without one, or not one number (hyper takes "5, 5" from two equal headers): read as it comes.
  if (!Number.isSafeInteger(size)) return readStream(req, limits);
  if (size > limits.limit) return Promise.reject(tooLarge(limits.limit));
  const { budget, user = "" } = limits;
  if (budget === undefined || size <= UNCOUNTED_BODY_BYTES) {
    return req.arrayBuffer().then(asBytes, UNREADABLE);
  }
  // Deno sets aside the declared size as the read starts: reserved first, given back when done.
  if (!budget.reserve(user, size)) return Promise.reject(BUSY());
  // Framed by Content-Length (checked above): one read, no stream pumping. `req.body` is not
  // touched here: making the stream would take Deno off its whole-body fast path. (No async
  // function here: this is every report's path, and the one promise chain allocates less.)
  return req.arrayBuffer().then((body) => {
    budget.release(user, size);
    return asBytes(body);
  }, () => {
    budget.release(user, size);
    return UNREADABLE();
  });
}

/**
 * A body without Content-Length (chunked), read until `limit` bytes, reserved as they come. Each
 * chunk is copied out at once: Deno hands it over as a view on a 64 KiB buffer of its own, so
 * keeping the chunks kept 64 KiB per byte of a body sent in 1-byte chunks (10,000 of them, 60 KB on
 * the wire, held 700 MB).
 */
async function readStream(req: Request, limits: ReadLimits): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const { limit, budget, user = "" } = limits;
  let out = new Uint8Array(0);
  let size = 0;
  const reader = req.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > limit) {
        await reader.cancel().catch(() => {});
        throw tooLarge(limit);
      }
      if (size + value.byteLength > out.byteLength) {
        // The buffer doubles: what it holds is counted, not just the bytes in it.
        const capacity = Math.min(limit, Math.max(16_384, 2 * (size + value.byteLength)));
        if (budget && !budget.reserve(user, capacity - out.byteLength)) {
          await reader.cancel().catch(() => {});
          throw BUSY();
        }
        const grown = new Uint8Array(capacity);
        grown.set(out.subarray(0, size));
        out = grown;
      }
      out.set(value, size);
      size += value.byteLength;
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(400, "bad_request", "request body could not be read");
  } finally {
    budget?.release(user, out.byteLength);
  }
  return out.subarray(0, size);
}

/**
 * Makes a decoded msgpack value JSON-compatible in place, in one walk without recursion
 * (timestamp → ISO string, bin → text; another extension type is refused with 422). Its depth and
 * size were checked on the bytes. 64-bit integers decode to numbers, as in JSON.
 */
function normalizeMsgpack(value: unknown): unknown {
  value = convert(value);
  const stack: object[] = [];
  if (value !== null && typeof value === "object") stack.push(value);
  while (stack.length > 0) {
    const container = stack.pop()!;
    if (Array.isArray(container)) {
      // By index: `for … in` made a string key per element (670 ms for 8 million zeros).
      for (let i = 0; i < container.length; i++) {
        const child = container[i];
        if (child !== null && typeof child === "object") {
          const converted = container[i] = convert(child);
          if (converted !== null && typeof converted === "object") stack.push(converted);
        }
      }
      continue;
    }
    const record = container as Record<string, unknown>;
    for (const key in record) {
      const child = record[key];
      if (child !== null && typeof child === "object") {
        const converted = record[key] = convert(child);
        if (converted !== null && typeof converted === "object") stack.push(converted);
      }
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
      `request body holds more objects and arrays, or keys, than its size allows (${MAX_CONTAINERS} of each or ` +
        `one per ${BYTES_PER_CONTAINER} bytes), or keys of more than ${MAX_KEY_NAMES} different names`,
    );
}

function convert(value: unknown): unknown {
  // A bin is text as the original (Msgpax: Elixir binaries) read it: agents that pack their
  // strings as bin (Python 2 with use_bin_type) were refused. Only UTF-8, as str values.
  if (value instanceof Uint8Array) return binText(value);
  if (value instanceof ExtData) {
    // No JSON meaning (it was kept as `{type, data}`); agents send none.
    throw new AppError(
      422,
      "invalid_body",
      `msgpack extension type ${value.type} is not accepted (timestamps are)`,
    );
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
    value = encoding === "json" ? parseJson(decodeUtf8(bytes)) : decodeMsgpack(bytes);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(400, "malformed_body", `request body is not valid ${encoding}`);
  }
  if (value === TOO_DEEP) throw shapeError("too_deep");
  if (value === TOO_MANY) throw shapeError("too_many");
  // JSON.parse output needs no conversion.
  return encoding === "msgpack" ? normalizeMsgpack(value) : value;
}

export interface ReadBodyOptions extends ReadLimits {
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
  refuseContentCoding(c.req.raw);
  const bytes = await readLimited(c.req.raw, options);
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
