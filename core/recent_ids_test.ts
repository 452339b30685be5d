import assert from "node:assert/strict";
import { recentIds } from "./recent_ids.ts";

Deno.test("recentIds remembers the last capacity/2 ids at least, and never more than capacity", () => {
  const recent = recentIds(1000);
  for (let i = 0; i < 10_000; i++) {
    recent.add(`id-${i}`);
    assert.ok(recent.size <= 1000);
    // The last 500 added are always known.
    for (const back of [0, 1, 250, 499]) {
      if (i - back >= 0) assert.ok(recent.has(`id-${i - back}`), `${i - back} at ${i}`);
    }
    // Older than capacity: forgotten.
    if (i >= 1000) assert.equal(recent.has(`id-${i - 1000}`), false);
  }
  assert.equal(recent.has("never"), false);
});

Deno.test("recentIds: adding a known id again does not push others out", () => {
  const recent = recentIds(4);
  recent.add("a");
  for (let i = 0; i < 100; i++) recent.add("b");
  assert.ok(recent.has("a"));
  assert.ok(recent.has("b"));
});
