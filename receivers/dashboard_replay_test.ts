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
  const [, last] = [...store.agents()][0]!;
  store.unkeep(last, "statistics");
  assert.equal(store.stats().replay_bytes, 0);
  assert.deepEqual(warnings, []);
});
