import assert from "node:assert/strict";
import { createReplayStore, type Frame } from "./dashboard_replay.ts";

const frame = (agentId: string, text: string): Frame => ({ agentId, text });

Deno.test("replay store: latest frame per type, the least recently heard agent forgotten past the byte budget", () => {
  const warnings: string[] = [];
  const store = createReplayStore({
    replayTypes: ["statistics", "block"],
    maxAgents: 10,
    maxReplayBytes: 30,
    maxReplayFrameBytes: 20,
    warn: (line) => warnings.push(line),
  });
  store.remember("a", "statistics", frame("a", "a".repeat(10)));
  store.remember("b", "statistics", frame("b", "b".repeat(10)));
  store.remember("a", "statistics", frame("a", "A".repeat(10))); // replaces a's older one; a is newest
  store.remember("a", "pending", frame("a", "x")); // not a replayed type
  assert.deepEqual(store.stats(), {
    agents: 2,
    replay_bytes: 20,
    agents_evicted: 0,
    replay_skipped_large: 0,
  });
  store.remember("c", "block", frame("c", "c".repeat(15))); // 35 > 30: b goes, not a
  assert.deepEqual([...store.agents()].map(([id, last]) => [id, [...last.keys()]]), [
    ["a", ["statistics"]],
    ["c", ["block"]],
  ]);
  assert.deepEqual(store.stats(), {
    agents: 2,
    replay_bytes: 25,
    agents_evicted: 1,
    replay_skipped_large: 0,
  });
  store.remember("c", "block", frame("c", "c".repeat(21))); // too large: dropped with the older one
  assert.deepEqual(store.stats(), {
    agents: 2,
    replay_bytes: 10,
    agents_evicted: 1,
    replay_skipped_large: 1,
  });
  assert.deepEqual(warnings, []);
});

Deno.test("replay store: frames kept unserialized are counted at their text once serialized; over the bounds they go", () => {
  const store = createReplayStore({
    replayTypes: ["statistics", "block", "latency"],
    maxAgents: 10,
    maxReplayBytes: 400,
    maxReplayFrameBytes: 200,
    warn: () => {},
  });
  // Kept with no client: estimated at the strings' lengths (about 60 bytes each), but each control
  // character is six as JSON text (\u0001), a quote or backslash two.
  const control = (agentId: string) => ({ agentId, data: { s: "\x01".repeat(50) } });
  for (const id of ["a", "b", "c", "d"]) store.remember(id, "statistics", control(id));
  store.remember("d", "block", { agentId: "d", data: { s: '"\\'.repeat(20) } });
  store.remember("d", "latency", { agentId: "d", data: { s: "not serializable" } });
  const before = store.stats().replay_bytes;
  assert.ok(before < 400, `${before}`);
  const serialized: string[] = [];
  store.serializeAll((frame) => {
    serialized.push(frame.agentId);
    return frame.data!["s"] === "not serializable" ? undefined : JSON.stringify(frame.data);
  });
  assert.deepEqual(serialized, ["a", "b", "c", "d", "d", "d"]);
  // Each control frame is 308 characters as text: over maxReplayFrameBytes, dropped; the block
  // (88 characters) stays, counted at its length, and the unserializable frame is gone.
  assert.deepEqual([...store.agents()].map(([id, last]) => [id, [...last.keys()]]), [
    ["a", []],
    ["b", []],
    ["c", []],
    ["d", ["block"]],
  ]);
  assert.deepEqual(store.stats(), {
    agents: 4,
    replay_bytes: 88,
    agents_evicted: 0,
    replay_skipped_large: 4,
  });
  // Frames under the frame bound whose texts are over the total: the agents heard from least
  // recently go, and what is kept is what the texts weigh.
  for (const id of ["e", "f", "g"]) {
    store.remember(id, "statistics", { agentId: id, data: { s: "\x01".repeat(25) } });
  }
  store.serializeAll((frame) => JSON.stringify(frame.data));
  assert.deepEqual([...store.agents()].map(([id]) => id), ["f", "g"]);
  assert.equal(store.stats().replay_bytes, 2 * 158);
  // Serialized once: a later pass does not call serialize again.
  store.serializeAll(() => assert.fail("serialized twice"));
});

Deno.test("replay store: frames are counted in the UTF-8 bytes they are sent as, not in UTF-16 units", () => {
  const store = createReplayStore({
    replayTypes: ["information"],
    maxAgents: 10,
    maxReplayBytes: 1000,
    maxReplayFrameBytes: 100,
    warn: () => {},
  });
  store.remember("a", "information", frame("a", "节点".repeat(5))); // 10 units, 30 bytes
  assert.equal(store.stats().replay_bytes, 30);
  store.remember("b", "information", { agentId: "b", data: { name: "节点".repeat(20) } });
  // Serialized: {"name":"…"} is 51 units and 131 bytes, over maxReplayFrameBytes (100): dropped.
  store.serializeAll((f) => JSON.stringify(f.data));
  assert.deepEqual(store.stats(), {
    agents: 2,
    replay_bytes: 30,
    agents_evicted: 0,
    replay_skipped_large: 1,
  });
});
