/**
 * A minimal HTTP/1.1 keep-alive client over `Deno.connect`, for load generators: one request
 * at a time per connection (no pipelining), pre-built request bytes, responses parsed by
 * Content-Length or chunked encoding. It costs a fraction of `fetch` per request, which is
 * what lets one process drive ten thousand agents. Not a general client: no TLS, no redirects.
 */

/** A parsed response: status and raw body bytes. */
export interface HttpResponse {
  status: number;
  body: Uint8Array;
}

/** Why a request failed; `uncertain` when the server may have processed it. */
export class HttpError extends Error {
  constructor(
    readonly kind: "connect" | "io" | "timeout" | "closed",
    readonly uncertain: boolean,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

const CRLFCRLF = [13, 10, 13, 10];
const decoder = new TextDecoder("latin1");
const encoder = new TextEncoder();

function findHeaderEnd(buf: Uint8Array, from: number, to: number): number {
  for (let i = Math.max(0, from); i + 3 < to; i++) {
    if (buf[i] === 13 && buf[i + 1] === 10 && buf[i + 2] === 13 && buf[i + 3] === 10) return i;
  }
  return -1;
}

/** Builds the bytes of a request: head (method, path, headers) and body. */
export function buildRequest(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string>,
  body?: Uint8Array | string,
): Uint8Array {
  const bytes = body === undefined ? undefined : typeof body === "string" ? encoder.encode(body) : body;
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  if (bytes) head += `content-length: ${bytes.byteLength}\r\n`;
  head += "\r\n";
  const h = encoder.encode(head);
  if (!bytes) return h;
  const out = new Uint8Array(h.byteLength + bytes.byteLength);
  out.set(h);
  out.set(bytes, h.byteLength);
  return out;
}

/** One keep-alive connection; requests must not overlap (callers serialize them). */
export class HttpConnection {
  #conn: Deno.TcpConn | null = null;
  #buf = new Uint8Array(2048);
  #closed = false;
  /** performance.now() when the current request started; 0 when idle. */
  busySince = 0;

  constructor(readonly hostname: string, readonly port: number) {}

  /** Sends one request and reads its response. */
  async request(bytes: Uint8Array): Promise<HttpResponse> {
    if (this.#closed) throw new HttpError("closed", false, "connection closed");
    this.busySince = performance.now();
    try {
      if (!this.#conn) {
        try {
          this.#conn = await Deno.connect({ hostname: this.hostname, port: this.port });
          this.#conn.setNoDelay(true);
        } catch (err) {
          throw new HttpError("connect", false, (err as Error).message);
        }
      }
      const conn = this.#conn;
      try {
        let written = 0;
        while (written < bytes.byteLength) written += await conn.write(bytes.subarray(written));
      } catch (err) {
        this.#drop();
        throw new HttpError("io", true, `write: ${(err as Error).message}`);
      }
      try {
        return await this.#read(conn);
      } catch (err) {
        this.#drop();
        if (err instanceof HttpError) throw err;
        const timedOut = this.busySince < 0;
        throw new HttpError(timedOut ? "timeout" : "io", true, `read: ${(err as Error).message}`);
      }
    } finally {
      this.busySince = 0;
    }
  }

  async #read(conn: Deno.TcpConn): Promise<HttpResponse> {
    let len = 0;
    let headerEnd = -1;
    let bodyStart = 0;
    let contentLength = -1;
    let chunked = false;
    let closeAfter = false;
    let status = 0;
    for (;;) {
      if (len === this.#buf.byteLength) {
        const bigger = new Uint8Array(this.#buf.byteLength * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
      const n = await conn.read(this.#buf.subarray(len));
      if (n === null) throw new HttpError("io", true, "connection closed by the server");
      const before = len;
      len += n;
      const buf = this.#buf;
      if (headerEnd < 0) {
        headerEnd = findHeaderEnd(buf, before - 3, len);
        if (headerEnd < 0) continue;
        bodyStart = headerEnd + CRLFCRLF.length;
        const head = decoder.decode(buf.subarray(0, headerEnd));
        status = Number(head.slice(9, 12));
        for (const line of head.split("\r\n").slice(1)) {
          const colon = line.indexOf(":");
          const name = line.slice(0, colon).toLowerCase();
          const value = line.slice(colon + 1).trim().toLowerCase();
          if (name === "content-length") contentLength = Number(value);
          else if (name === "transfer-encoding") chunked = value.includes("chunked");
          else if (name === "connection") closeAfter = value === "close";
        }
        if (!chunked && contentLength < 0) contentLength = 0;
      }
      let body: Uint8Array | null = null;
      if (chunked) body = dechunk(buf.subarray(bodyStart, len));
      else if (len - bodyStart >= contentLength) body = buf.slice(bodyStart, bodyStart + contentLength);
      if (body) {
        if (closeAfter) this.#drop();
        return { status, body };
      }
    }
  }

  /** Aborts the request in flight (a timeout) and closes the socket; the next request reconnects. */
  abort(): void {
    if (this.busySince > 0) this.busySince = -1;
    this.#drop();
  }

  #drop(): void {
    try {
      this.#conn?.close();
    } catch {
      // already closed
    }
    this.#conn = null;
  }

  /** Closes for good. */
  close(): void {
    this.#closed = true;
    this.#drop();
  }
}

/** The body of a complete chunked message, or null when more bytes are needed. */
function dechunk(data: Uint8Array): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let i = 0;
  for (;;) {
    let lineEnd = -1;
    for (let j = i; j + 1 < data.byteLength; j++) {
      if (data[j] === 13 && data[j + 1] === 10) {
        lineEnd = j;
        break;
      }
    }
    if (lineEnd < 0) return null;
    const size = parseInt(decoder.decode(data.subarray(i, lineEnd)).split(";")[0]!, 16);
    if (!Number.isFinite(size)) throw new HttpError("io", true, "bad chunk size");
    const start = lineEnd + 2;
    if (size === 0) {
      // Last chunk; trailers are not used by the service, so the final CRLF ends the message.
      if (data.byteLength < start + 2) return null;
      const total = parts.reduce((n, p) => n + p.byteLength, 0);
      const out = new Uint8Array(total);
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.byteLength;
      }
      return out;
    }
    if (data.byteLength < start + size + 2) return null;
    parts.push(data.slice(start, start + size));
    i = start + size + 2;
  }
}

/** Splits `http://host:port` into connect parameters. */
export function parseBase(base: string): { hostname: string; port: number; host: string } {
  const url = new URL(base);
  if (url.protocol !== "http:") {
    throw new Error(`only http:// is supported by the load generator (got ${base})`);
  }
  const port = url.port ? Number(url.port) : 80;
  return { hostname: url.hostname, port, host: url.host };
}
