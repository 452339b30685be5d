import assert from "node:assert/strict";
import { createNodeInformation } from "./node_information.ts";

Deno.test("node information: what was reported since the start wins over what is read back; stored rows wait for their node, once, at most the limit", () => {
  const info = createNodeInformation(2);
  info.noted("fresh", { name: "reported after the start" });
  const applied: string[] = [];
  info.restore(
    [["fresh", { name: "older" }], ["known", { name: "K" }], ["a", { name: "A" }], ["b", { name: "B" }], [
      "c",
      { name: "C" },
    ], ["bad", "not an object"]],
    (agentId) => {
      applied.push(agentId);
      return agentId === "known";
    },
  );
  assert.deepEqual(applied, ["known", "a", "b", "c"]); // not "fresh" (newer), not "bad"
  assert.equal(info.waiting, 2); // a and b; c is over the limit
  assert.deepEqual(info.recall("a"), { name: "A" });
  assert.equal(info.recall("a"), undefined);
  assert.equal(info.recall("c"), undefined);
  assert.deepEqual(info.take(), [["fresh", { name: "reported after the start" }]]);
  assert.deepEqual(info.take(), []);
  // A failed save is noted again, unless newer information came meanwhile.
  info.noted("x", { name: "new" });
  info.markDirty([["x", { name: "old" }], ["y", { name: "Y" }]]);
  assert.deepEqual(info.take(), [["x", { name: "new" }], ["y", { name: "Y" }]]);
});
