/** Request body decoding (JSON or MessagePack) and validation with zod, at the edge. */
import { decode as decodeMsgpack } from "@msgpack/msgpack";
import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "./errors.ts";

/** The encodings the service accepts on request bodies. */
export type BodyEncoding = "json" | "msgpack";

/** Maximum nesting depth of a decoded body; deeper input is refused with 422. */
export const MAX_DEPTH = 64;

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

/** Reads at most `limit` bytes of a request body; more is a 413, whatever Content-Length said. */
export async function readLimited(req: Request, limit: number): Promise<Uint8Array> {
  const declared = req.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    throw new AppError(413, "payload_too_large", `request body exceeds ${limit} bytes`);
  }
  if (declared !== null) {
    // Framed by Content-Length (checked above): one read, no stream pumping. `req.body` is not
    // touched here: making the stream would take Deno off its whole-body fast path.
    try {
      return new Uint8Array(await req.arrayBuffer());
    } catch {
      throw new AppError(400, "bad_request", "request body could not be read");
    }
  }
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
 * (timestamp → ISO string; binary is refused with 422), and refuses nesting deeper than
 * MAX_DEPTH (422). 64-bit integers decode to numbers, as in JSON.
 */
function normalizeMsgpack(value: unknown): unknown {
  value = convert(value);
  const stack: Array<[object, number]> = [];
  if (value !== null && typeof value === "object") stack.push([value, 0]);
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (depth >= MAX_DEPTH) throw tooDeepError();
    const record = v as Record<string, unknown>;
    for (const key in record) {
      let child = record[key];
      if (child !== null && typeof child !== "string" && typeof child !== "number") {
        child = record[key] = convert(child);
      }
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  return value;
}

function tooDeepError(): AppError {
  return new AppError(422, "too_deep", `request body nests deeper than ${MAX_DEPTH} levels`);
}

function convert(value: unknown): unknown {
  if (value instanceof Uint8Array) {
    throw new AppError(422, "invalid_body", "binary values are not accepted in the body");
  }
  if (value instanceof Date) return value.toISOString();
  return value;
}

/**
 * True when a decoded value nests deeper than `max` arrays/objects. Recursive, but never more
 * than `max` + 1 calls deep; it allocates nothing, as it runs on every ethstats frame.
 */
export function tooDeep(value: unknown, max = MAX_DEPTH): boolean {
  return value !== null && typeof value === "object" && deeperThan(value, 0, max);
}

function deeperThan(value: object, depth: number, max: number): boolean {
  if (depth >= max) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, max)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, max)) return true;
  }
  return false;
}

/**
 * Whether valid JSON text nests arrays/objects deeper than `max` levels, from its bytes: brackets
 * outside strings are counted (all of them are ASCII in UTF-8). Same verdict as `tooDeep` on the
 * parsed value, without walking it.
 */
export function jsonTooDeep(bytes: Uint8Array, max = MAX_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x22) {
      // Skip the string: up to the next quote that is not escaped.
      for (i++; i < bytes.length; i++) {
        const c = bytes[i]!;
        if (c === 0x5c) i++;
        else if (c === 0x22) break;
      }
    } else if (b === 0x7b || b === 0x5b) {
      if (++depth > max) return true;
    } else if (b === 0x7d || b === 0x5d) {
      depth--;
    }
  }
  return false;
}

const textDecoder = new TextDecoder("utf-8", { fatal: true });

/** Decodes raw bytes; an empty body is an empty map. Undecodable input is a 400. */
export function decodeBytes(bytes: Uint8Array, encoding: BodyEncoding): unknown {
  if (bytes.byteLength === 0) return {};
  let value: unknown;
  try {
    value = encoding === "json"
      ? JSON.parse(textDecoder.decode(bytes))
      : decodeMsgpack(bytes, { useBigInt64: false });
  } catch {
    throw new AppError(400, "malformed_body", `request body is not valid ${encoding}`);
  }
  if (encoding === "msgpack") return normalizeMsgpack(value);
  // JSON.parse output needs no conversion: only the depth is checked, on the bytes.
  if (jsonTooDeep(bytes)) throw tooDeepError();
  return value;
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

/** Validates with zod; failures are 422 naming the first offending field. */
export function validate<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue && issue.path.length > 0 ? issue.path.join(".") : "body";
  throw new AppError(422, "invalid_body", `${path}: ${issue?.message ?? "invalid"}`);
}
