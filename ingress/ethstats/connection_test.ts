import assert from "node:assert/strict";
import {
  type Connection,
  createLoginGate,
  createPenaltyBox,
  evictionCandidate,
  exceedsBytes,
  frameRefusal,
  MAX_EARLY_FRAMES,
  MESSAGE_TOO_BIG,
  newConnection,
  POLICY_VIOLATION,
  takeToken,
} from "./connection.ts";

Deno.test("login gate: capped in all and per address; a socket that leaves frees its slot", () => {
  const gate = createLoginGate(3, 2);
  assert.equal(gate.admit("a"), null);
  assert.equal(gate.admit("a"), null);
  assert.equal(gate.admit("a"), "address");
  assert.equal(gate.admit("b"), null);
  assert.equal(gate.admit("c"), "busy");
  assert.equal(gate.count(), 3);
  gate.leave("a");
  assert.equal(gate.admit("c"), null);
  assert.equal(gate.admit("a"), "busy");
  gate.leave("b");
  assert.equal(gate.admit("a"), null);
  // Full, and this address at its own bound: "address" (no room is made for it by an eviction).
  assert.equal(gate.admit("a"), "address");
});

Deno.test("token bucket: a burst, then the rate", () => {
  const conn = { tokens: 3, refilledAt: 0 } as Connection;
  const taken = [0, 0, 0, 0].map(() => takeToken(conn, 0, 2, 3));
  assert.deepEqual(taken, [true, true, true, false]);
  assert.equal(takeToken(conn, 499, 2, 3), false); // 0.998 of a token
  assert.equal(takeToken(conn, 500, 2, 3), true);
  assert.equal(takeToken(conn, 10_000, 2, 3), true); // refilled to the burst, not beyond
  assert.equal(conn.tokens, 2);
});

Deno.test("exceedsBytes counts UTF-8 bytes, not characters", () => {
  assert.equal(exceedsBytes("abc", 3), false);
  assert.equal(exceedsBytes("abcd", 3), true);
  assert.equal(exceedsBytes("é".repeat(2), 3), true); // 4 bytes in 2 characters
  assert.equal(exceedsBytes("€", 3), false);
});

Deno.test("penalty box: an address waits out its cooldown; the oldest are forgotten past the cap; 0 is off", () => {
  const box = createPenaltyBox(1000, 2);
  box.penalize("a", 0);
  assert.equal(box.waitMs("a", 400), 600);
  assert.equal(box.waitMs("b", 400), 0);
  box.penalize("b", 500);
  box.penalize("a", 600); // again: a full cooldown from now
  assert.equal(box.waitMs("a", 700), 900);
  box.penalize("c", 700); // past 2 addresses: b, the oldest, goes
  assert.equal(box.waitMs("b", 800), 0);
  assert.equal(box.waitMs("c", 800), 900);
  assert.equal(box.waitMs("a", 1600), 0);
  const off = createPenaltyBox(0);
  off.penalize("a", 0);
  assert.equal(off.waitMs("a", 0), 0);
});

Deno.test("eviction: the oldest waiting socket of the address holding the most, else the oldest", () => {
  const waiting = [{ id: 1, key: "b" }, { id: 2, key: "a" }, { id: 3, key: "a" }];
  assert.equal(evictionCandidate(waiting)?.id, 2);
  assert.equal(evictionCandidate(waiting.slice(0, 2))?.id, 1);
  assert.equal(evictionCandidate([]), undefined);
});

Deno.test("frame admission: size in UTF-8 bytes, a budget before hello, the rate after it", () => {
  const limits = { maxFrameBytes: 8, rate: 2, burst: 2 };
  const conn = newConnection({} as WebSocket, "a", 0, limits.burst);
  assert.equal(frameRefusal(conn, "é".repeat(4), 0, limits), null); // 8 bytes
  const big = frameRefusal(conn, "é".repeat(5), 0, limits);
  assert.equal(big?.counter, "limited_frame_size");
  assert.equal(big?.code, MESSAGE_TOO_BIG);
  assert.match(big!.frame, /"frame_too_large"/);
  assert.equal(frameRefusal(conn, new Uint8Array(9), 0, limits)?.counter, "limited_frame_size");
  // Before the hello the rate does not apply, the early budget does (one frame was taken above,
  // the binary one was refused before it counted).
  for (let i = 1; i < MAX_EARLY_FRAMES; i++) assert.equal(frameRefusal(conn, "{}", 0, limits), null);
  const early = frameRefusal(conn, "{}", 0, limits);
  assert.equal(early?.counter, "limited_rate");
  assert.match(early!.frame, /before hello/);
  // Once it is logged in: the token bucket.
  conn.state = "ready";
  assert.equal(frameRefusal(conn, "{}", 0, limits), null);
  assert.equal(frameRefusal(conn, "{}", 0, limits), null);
  const fast = frameRefusal(conn, "{}", 0, limits);
  assert.deepEqual([fast?.counter, fast?.code], ["limited_rate", POLICY_VIOLATION]);
  assert.match(fast!.frame, /more than 2 messages per second/);
  assert.equal(frameRefusal(conn, "{}", 500, limits), null);
});
