import assert from "node:assert/strict";
import { createAddressLimit, type FeedClient, keepsUp } from "./websocket.ts";

Deno.test("keepsUp: a client over its allowance is too slow; caught up, its allowance returns to the limit", () => {
  const socket = { bufferedAmount: 0 };
  const client: FeedClient = { socket: socket as WebSocket, allowance: 1000 + 5000 }; // limit + snapshot
  socket.bufferedAmount = 5500; // the snapshot still going out: tolerated
  assert.equal(keepsUp(client, 1000), true);
  assert.equal(client.allowance, 6000);
  socket.bufferedAmount = 800; // caught up
  assert.equal(keepsUp(client, 1000), true);
  assert.equal(client.allowance, 1000);
  socket.bufferedAmount = 1001;
  assert.equal(keepsUp(client, 1000), false);
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
