import assert from "node:assert/strict";
import { createStoredNodes } from "./stored_nodes.ts";

Deno.test("stored nodes: what was reported since the start wins over what is read back; stored rows wait for their node, once, at most the limit", () => {
  const stored = createStoredNodes(2);
  stored.noted("fresh", "information", { name: "reported after the start" });
  const applied: string[] = [];
  stored.restore(
    [
      ["fresh", { name: "older" }, null],
      ["known", { name: "K" }, null],
      ["a", { name: "A" }, { peers: 3 }],
      ["b", null, { peers: 4, syncing: { currentBlock: 7, other: 1 }, deep: { x: 1 } }],
      ["c", { name: "C" }, null],
      ["bad", "not an object", ["nor this"]],
    ],
    (agentId) => {
      applied.push(agentId);
      return agentId === "known";
    },
  );
  assert.deepEqual(applied, ["known", "a", "b", "c"]); // not "fresh" (newer), not "bad"
  assert.equal(stored.waiting, 2); // a and b; c is over the limit
  assert.deepEqual(stored.recall("a"), { information: { name: "A" }, statistics: { peers: 3 } });
  assert.equal(stored.recall("a"), undefined);
  // Read as any report is: known keys only, `syncing` its three numbers.
  assert.deepEqual(stored.recall("b"), { statistics: { peers: 4, syncing: { currentBlock: 7 } } });
  assert.equal(stored.recall("c"), undefined);
  assert.deepEqual(stored.take(), [["fresh", { information: { name: "reported after the start" } }]]);
  assert.deepEqual(stored.take(), []);
  // A failed save is noted again, unless newer came meanwhile.
  stored.noted("x", "information", { name: "new" });
  stored.markDirty([["x", { information: { name: "old" }, statistics: { peers: 1 } }], ["y", {
    information: { name: "Y" },
  }]]);
  assert.deepEqual(stored.take(), [["x", { information: { name: "new" }, statistics: { peers: 1 } }], [
    "y",
    { information: { name: "Y" } },
  ]]);
});

Deno.test("stored nodes: a node's statistics are taken at most once a minute, the latest at the end of it, all of them at a graceful stop", () => {
  let now = 1_000_000;
  const stored = createStoredNodes(10, { statisticsEveryMs: 60_000, now: () => now });
  stored.noted("a", "statistics", { peers: 1 });
  stored.noted("b", "statistics", { peers: 1 });
  assert.deepEqual(stored.take().map(([id, row]) => [id, row.statistics?.["peers"]]), [["a", 1], ["b", 1]]);
  // Within the minute: a's new statistics wait, newer replacing them; its information does not wait.
  now += 5_000;
  stored.noted("a", "statistics", { peers: 2 });
  stored.noted("a", "information", { name: "A" });
  assert.deepEqual(stored.take(), [["a", { information: { name: "A" } }]]);
  now += 5_000;
  stored.noted("a", "statistics", { peers: 3 });
  assert.deepEqual(stored.take(), []);
  now += 50_000; // a minute after they were last taken
  assert.deepEqual(stored.take(), [["a", { statistics: { peers: 3 } }]]);
  // Held again, then a graceful stop takes them anyway; b's minute is long over.
  now += 1_000;
  stored.noted("a", "statistics", { peers: 4 });
  stored.noted("b", "statistics", { peers: 5 });
  assert.deepEqual(stored.take(), [["b", { statistics: { peers: 5 } }]]);
  assert.deepEqual(stored.take(true), [["a", { statistics: { peers: 4 } }]]);
  // A save that failed is tried again at the next take, not a minute later.
  now += 1_000;
  stored.noted("c", "statistics", { peers: 9 });
  const failed = stored.take();
  stored.markDirty(failed);
  assert.deepEqual(stored.take(), [["c", { statistics: { peers: 9 } }]]);
});

Deno.test("stored nodes: at most `limit` wait to be saved (a Postgres outage under a stream of new agent ids), the oldest let go first", () => {
  let now = 0;
  const stored = createStoredNodes(3, { statisticsEveryMs: 60_000, now: () => now });
  for (let i = 0; i < 10; i++) stored.noted(`id-${i}`, "statistics", { peers: i });
  // A failed save put back: still within the bound.
  stored.markDirty([["old-1", { information: { name: "1" } }], ["old-2", { information: { name: "2" } }]]);
  assert.deepEqual(stored.take().map(([id]) => id), ["id-9", "old-1", "old-2"]);
  // The hold on statistics keeps no more ids than that either: the oldest holds go first.
  now += 1_000;
  for (let i = 0; i < 10; i++) {
    stored.noted(`new-${i}`, "statistics", { peers: i });
    assert.equal(stored.take().length, 1);
  }
  now += 1_000;
  // new-0 lost its hold (saved again at once); new-9 still waits for its minute.
  stored.noted("new-0", "statistics", { peers: 100 });
  stored.noted("new-9", "statistics", { peers: 109 });
  assert.deepEqual(stored.take(), [["new-0", { statistics: { peers: 100 } }]]);
});
