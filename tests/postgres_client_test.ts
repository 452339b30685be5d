/**
 * The vendored postgres.js when a connection fails while it is being set up: the query waiting
 * for it fails, and nothing escapes as an unhandled rejection (which would end the process).
 * A fake server on 127.0.0.1 plays the failure deterministically at the moment it matters: the
 * client's array-types query (`fetch_types`, the first query of every new connection).
 */
import assert from "node:assert/strict";
import net from "node:net";
import postgres from "postgres";

const AUTH_OK_READY = new Uint8Array([82, 0, 0, 0, 8, 0, 0, 0, 0, 90, 0, 0, 0, 5, 73]);

/** The ErrorResponse `pg_terminate_backend` makes a backend send before it closes. */
function terminatedError(): Uint8Array {
  const fields = "SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0";
  const body = new TextEncoder().encode(fields);
  const out = new Uint8Array(5 + body.length);
  out[0] = 69; // E
  new DataView(out.buffer).setUint32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

/**
 * A server answering each connection's startup with AuthenticationOk and ReadyForQuery, then
 * calling `onTypesQuery` with the connection's number when the types query arrives.
 */
async function fakeServer(onTypesQuery: (socket: net.Socket, n: number) => void) {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    const n = connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.once("data", () => {
      socket.write(AUTH_OK_READY);
      socket.once("data", () => onTypesQuery(socket, n));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `postgres://user:pass@127.0.0.1:${port}/db`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Runs `fn`, returning the unhandled rejections seen meanwhile and in the 100 ms after it. */
async function unhandledDuring(fn: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    seen.push(String((e.reason as Error)?.message ?? e.reason));
  };
  globalThis.addEventListener("unhandledrejection", listener);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    globalThis.removeEventListener("unhandledrejection", listener);
  }
  return seen;
}

Deno.test("a connection reset during its array-types query fails the waiting query, nothing unhandled", async () => {
  const server = await fakeServer((socket) => socket.resetAndDestroy());
  const sql = postgres(server.url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  try {
    const unhandled = await unhandledDuring(async () => {
      await assert.rejects(sql`select 1`, { code: "ECONNRESET" });
    });
    assert.deepEqual(unhandled, []);
  } finally {
    await sql.end({ timeout: 0 });
    await server.close();
  }
});

Deno.test("a backend terminated during its array-types query: the waiting query fails, nothing unhandled", async () => {
  // The first connection is terminated (FATAL 57P01, then closed); the one after it stays up.
  const server = await fakeServer((socket, n) => {
    if (n === 0) socket.end(terminatedError());
  });
  const sql = postgres(server.url, { max: 1, onnotice: () => {}, connect_timeout: 2 });
  try {
    const unhandled = await unhandledDuring(async () => {
      await assert.rejects(sql`select 1`);
    });
    assert.deepEqual(unhandled, []);
  } finally {
    await sql.end({ timeout: 0 });
    await server.close();
  }
});
