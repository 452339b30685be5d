import assert from "node:assert/strict";
import { encodedEvent, eventText, openEventStream } from "./event_stream.ts";
import type { FeedSocket } from "./websocket.ts";

/** A server whose every request opens an event stream, handed to `onOpen`. */
function serve(onOpen: (socket: FeedSocket) => void, heartbeatMs?: number) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const { socket, response } = openEventStream(heartbeatMs);
    onOpen(socket);
    return response;
  });
  return { url: `http://127.0.0.1:${server.addr.port}/`, port: server.addr.port, server };
}

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("eventText: one data line per line of the text, then an empty line", () => {
  assert.equal(eventText('{"a":1}'), 'data: {"a":1}\n\n');
  assert.equal(eventText("one\ntwo"), "data: one\ndata: two\n\n");
});

Deno.test("an event stream delivers events and heartbeats, and tells when the peer goes away", async () => {
  let socket: FeedSocket | undefined;
  const { url, server } = serve((s) => socket = s, 50);
  try {
    const abort = new AbortController();
    const res = await fetch(url, { signal: abort.signal });
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(res.headers.get("x-accel-buffering"), "no");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    socket!.send('{"n":1}');
    socket!.send('{"n":2}');
    while (!(text.includes('data: {"n":2}\n\n') && text.split(":\n\n").length > 3)) {
      text += (await reader.read()).value ?? "";
    }
    assert.ok(text.startsWith(':\n\ndata: {"n":1}\n\ndata: {"n":2}\n\n'), text);
    let closed = false;
    socket!.addEventListener("close", () => closed = true);
    abort.abort();
    await reader.cancel().catch(() => {});
    await until(() => closed, "the close event");
    assert.equal(socket!.readyState, 3);
    assert.throws(() => socket!.send("late"));
  } finally {
    await server.shutdown();
  }
});

Deno.test("a peer that does not read: bufferedAmount counts what waits, close() drops it; CLOSED once the peer goes", async () => {
  let socket: FeedSocket | undefined;
  const { port, server } = serve((s) => socket = s);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await until(() => socket !== undefined, "the stream");
    const event = "x".repeat(64 * 1024);
    // 32 MiB: more than the kernel's buffers at both ends take.
    for (let i = 0; i < 512; i++) socket!.send(event);
    await new Promise((r) => setTimeout(r, 200));
    const waiting = socket!.bufferedAmount;
    assert.ok(waiting > 8 * 1024 * 1024, `${waiting} bytes waiting`);
    let closed = 0;
    socket!.addEventListener("close", () => closed++);
    socket!.close(1008, "too slow");
    // Dropped at once; the connection still counts (CLOSING) while the peer holds it.
    assert.equal(socket!.bufferedAmount, 0);
    assert.equal(socket!.readyState, 2);
    assert.equal(closed, 0);
    socket!.close(); // idempotent
    conn.close();
    await until(() => closed === 1, "the close event once the peer went");
    assert.equal(socket!.readyState, 3);
  } finally {
    try {
      conn.close();
    } catch {
      // closed above
    }
    await server.shutdown();
  }
});

Deno.test("close() with a peer that reads ends the response after what was already taken", async () => {
  let socket: FeedSocket | undefined;
  const { url, server } = serve((s) => socket = s);
  try {
    const res = await fetch(url);
    const reading = res.text();
    await until(() => socket !== undefined, "the stream");
    let closed = false;
    socket!.addEventListener("close", () => closed = true);
    socket!.close();
    assert.equal(await reading, ":\n\n"); // the first comment, then the end
    await until(() => closed, "the close event");
  } finally {
    await server.shutdown();
  }
});

Deno.test("one event sent to many streams reaches each whole (its bytes shared, handed over in slices)", async () => {
  const sockets: FeedSocket[] = [];
  const { url, server } = serve((s) => sockets.push(s));
  try {
    const readers = await Promise.all([0, 1, 2].map(async () => {
      const res = await fetch(url);
      return res.body!.pipeThrough(new TextDecoderStream()).getReader();
    }));
    await until(() => sockets.length === 3, "three streams");
    const big = JSON.stringify({ pad: "é".repeat(100_000) }); // 200 KB of UTF-8: four slices
    for (let round = 0; round < 3; round++) for (const socket of sockets) socket.send(big);
    const expected = ":\n\n" + eventText(big).repeat(3);
    try {
      for (const reader of readers) {
        let text = "";
        while (text.length < expected.length) text += (await reader.read()).value ?? "";
        assert.equal(text, expected);
      }
    } finally {
      for (const reader of readers) await reader.cancel();
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("a snapshot of many parts is encoded once for every page (eight events were kept: a 40-part snapshot was encoded again per page)", () => {
  const parts = Array.from({ length: 40 }, (_, i) => `${i}:` + "x".repeat(256 * 1024));
  const first = parts.map((p) => encodedEvent(p));
  const again = parts.map((p) => encodedEvent(p));
  assert.ok(again.every((bytes, i) => bytes === first[i]), "the same bytes, not encoded again");
  // Bounded in bytes: 300 more such parts (75 MB) push the first ones out.
  for (let i = 0; i < 300; i++) encodedEvent(`more ${i}:` + "y".repeat(256 * 1024));
  assert.notEqual(encodedEvent(parts[0]!), first[0]);
});
