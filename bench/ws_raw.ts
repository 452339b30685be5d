/**
 * A receive-mostly websocket client over `Deno.connect`, for fan-out benchmarks: the upgrade
 * handshake by hand, then server frames are parsed straight from the socket buffer (counted
 * without decoding unless asked), so a thousand clients in one process cost far less than the
 * server that feeds them. Answers pings; sends nothing else.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Callbacks of a raw client. */
export interface RawWsHandlers {
  /** Called for every text frame when `decode` is true (payload as a string). */
  onText?: (text: string) => void;
  /** Called for every data frame (cheap: no decoding). */
  onFrame?: () => void;
  onClose?: (reason: string) => void;
}

/** A connected raw websocket client. */
export interface RawWs {
  /** Frames received. */
  readonly frames: number;
  readonly closed: boolean;
  close(): void;
}

/** Opens a websocket to `ws://host:port/path` with extra request headers. */
export async function openRawWs(
  hostname: string,
  port: number,
  path: string,
  headers: Record<string, string>,
  handlers: RawWsHandlers,
  decode = false,
): Promise<RawWs> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  let req =
    `GET ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nupgrade: websocket\r\nconnection: Upgrade\r\n` +
    `sec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n`;
  for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
  await writeAll(conn, encoder.encode(req + "\r\n"));

  let buf = new Uint8Array(16384);
  let len = 0;
  // Handshake response.
  for (;;) {
    const n = await conn.read(buf.subarray(len));
    if (n === null) {
      conn.close();
      throw new Error("websocket handshake: connection closed");
    }
    len += n;
    const text = decoder.decode(buf.subarray(0, len));
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      if (len === buf.length) throw new Error("websocket handshake: header too large");
      continue;
    }
    if (!text.startsWith("HTTP/1.1 101")) {
      conn.close();
      throw new Error(`websocket handshake refused: ${text.split("\r\n")[0]}`);
    }
    const headerBytes = encoder.encode(text.slice(0, end + 4)).byteLength;
    buf.copyWithin(0, headerBytes, len);
    len -= headerBytes;
    break;
  }

  let frames = 0;
  let closed = false;
  const finish = (reason: string) => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // already closed
    }
    handlers.onClose?.(reason);
  };

  const client: RawWs = {
    get frames() {
      return frames;
    },
    get closed() {
      return closed;
    },
    close: () => finish("closed by client"),
  };

  (async () => {
    try {
      for (;;) {
        // Parse every complete frame in the buffer.
        let off = 0;
        for (;;) {
          if (len - off < 2) break;
          const b0 = buf[off]!;
          const b1 = buf[off + 1]!;
          let payloadLen = b1 & 0x7f;
          let hdr = 2;
          if (payloadLen === 126) {
            if (len - off < 4) break;
            payloadLen = (buf[off + 2]! << 8) | buf[off + 3]!;
            hdr = 4;
          } else if (payloadLen === 127) {
            if (len - off < 10) break;
            payloadLen = Number(new DataView(buf.buffer, buf.byteOffset + off + 2, 8).getBigUint64(0));
            hdr = 10;
          }
          if (len - off < hdr + payloadLen) {
            if (hdr + payloadLen > buf.length) {
              const bigger = new Uint8Array(Math.max(buf.length * 2, hdr + payloadLen));
              bigger.set(buf.subarray(0, len));
              buf = bigger;
            }
            break;
          }
          const opcode = b0 & 0x0f;
          const start = off + hdr;
          if (opcode === 0x1 || opcode === 0x2 || opcode === 0x0) {
            frames++;
            handlers.onFrame?.();
            if (decode && opcode === 0x1) {
              handlers.onText?.(decoder.decode(buf.subarray(start, start + payloadLen)));
            }
          } else if (opcode === 0x9) {
            await writeAll(conn, maskedFrame(0xa, buf.slice(start, start + payloadLen)));
          } else if (opcode === 0x8) {
            const code = payloadLen >= 2 ? (buf[start]! << 8) | buf[start + 1]! : 1005;
            finish(`server closed (${code})`);
            return;
          }
          off = start + payloadLen;
        }
        if (off > 0) {
          buf.copyWithin(0, off, len);
          len -= off;
        }
        const n = await conn.read(buf.subarray(len));
        if (n === null) {
          finish("connection ended");
          return;
        }
        len += n;
      }
    } catch (err) {
      finish(`error: ${(err as Error).message}`);
    }
  })();
  return client;
}

function maskedFrame(opcode: number, payload: Uint8Array): Uint8Array {
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const out = new Uint8Array(2 + 4 + payload.byteLength);
  out[0] = 0x80 | opcode;
  out[1] = 0x80 | payload.byteLength; // control frames are < 126 bytes
  out.set(mask, 2);
  for (let i = 0; i < payload.byteLength; i++) out[6 + i] = payload[i]! ^ mask[i % 4]!;
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.byteLength) written += await conn.write(bytes.subarray(written));
}
