import assert from "node:assert/strict";
import {
  BURST_GRACE_MS,
  createAddressLimit,
  createFeedClient,
  createOutbox,
  keepsUp,
  utf8Length,
} from "./websocket.ts";

/** The part of a WebSocket an outbox uses: what it was handed, and Deno's unsent bytes. */
class FakeSocket extends EventTarget {
  bufferedAmount = 0;
  sent: string[] = [];
  send(text: string) {
    this.sent.push(text);
    this.bufferedAmount += utf8Length(text);
  }
}

Deno.test("keepsUp: a client over its allowance is too slow; caught up or past its grace, its allowance is the limit", () => {
  const socket = new FakeSocket();
  const client = createFeedClient(socket as unknown as WebSocket, 1000, 5000, 0); // limit + snapshot
  socket.bufferedAmount = 5500; // the snapshot still going out: tolerated
  assert.equal(keepsUp(client, 1000, 1), true);
  assert.equal(client.allowance, 6000);
  socket.bufferedAmount = 800; // caught up
  assert.equal(keepsUp(client, 1000, 2), true);
  assert.equal(client.allowance, 1000);
  socket.bufferedAmount = 1001;
  assert.equal(keepsUp(client, 1000, 3), false);
  // A client that has not taken its snapshot when its grace ends is too slow.
  const stalled = createFeedClient(socket as unknown as WebSocket, 1000, 5000, 0);
  socket.bufferedAmount = 5500;
  assert.equal(keepsUp(stalled, 1000, BURST_GRACE_MS - 1), true);
  assert.equal(keepsUp(stalled, 1000, BURST_GRACE_MS), false);
  client.out.clear();
  stalled.out.clear();
});

Deno.test("outbox: a socket that does not read is handed frames only up to the high water; the rest go in order once it drains", async () => {
  const socket = new FakeSocket();
  const out = createOutbox(socket as unknown as WebSocket, 1000);
  const frames = Array.from({ length: 50 }, (_, i) => `${i}`.padStart(300, "é"));
  for (const frame of frames) assert.equal(out.send(frame, utf8Length(frame)), true);
  // 300-character frames are 598 bytes: two make Deno hold past 1,000; the others wait.
  assert.equal(socket.sent.length, 2);
  const total = frames.reduce((n, f) => n + utf8Length(f), 0);
  assert.equal(out.unsent(), total);
  // Polling while nothing drains hands nothing more over.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(socket.sent.length, 2);
  // The peer reads: the rest follow, in order, never more than the high water held at once.
  const deadline = Date.now() + 5000;
  while (socket.sent.length < frames.length && Date.now() < deadline) {
    assert.ok(socket.bufferedAmount < 1000 + 598, `${socket.bufferedAmount} bytes held`);
    socket.bufferedAmount = 0;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.deepEqual(socket.sent, frames);
  // Once closed, nothing more is taken or sent.
  socket.dispatchEvent(new Event("close"));
  assert.equal(out.send("late", 4), false);
  assert.equal(socket.sent.length, frames.length);
});

Deno.test("address limit: sockets count against their address until their close event", () => {
  const limit = createAddressLimit(2);
  const sockets = [new EventTarget(), new EventTarget()];
  for (const s of sockets) limit.track("a", s as WebSocket);
  assert.equal(limit.allows("a"), false);
  assert.equal(limit.allows("b"), true);
  sockets[0]!.dispatchEvent(new Event("close"));
  assert.equal(limit.count("a"), 1);
  assert.equal(limit.allows("a"), true);
});
