import assert from "node:assert/strict";
import { createItemQueue } from "./item_queue.ts";
import type { QueueItem } from "./queue_item.ts";
import { numberedItem } from "../tests/support/fixtures.ts";

function msg(n: number, bytes = 10): QueueItem {
  return numberedItem(n, { bytes, receivedAt: 0 });
}

Deno.test("item queue: order, bytes, runs of spill segments released once all their items are taken", () => {
  const q = createItemQueue();
  q.pushRun([msg(1), msg(2)], "seg-1");
  q.push(msg(3));
  q.push({ kind: "inactive", agentId: "a" });
  q.push(msg(4));
  assert.equal(q.depth, 5);
  assert.equal(q.bytes, 40);
  assert.deepEqual(q.messages(10).map((m) => m.id), ["m1", "m2", "m3"]); // stops at the inactive event
  assert.deepEqual(q.take(1), []);
  assert.deepEqual(q.take(1), ["seg-1"]);
  assert.equal(q.first()?.kind, "message");
  assert.deepEqual(q.take(2), []);
  assert.deepEqual(q.messages(10).map((m) => m.id), ["m4"]);
  assert.equal(q.bytes, 10);
  q.pushRun([msg(5)], "seg-2");
  const all = q.takeAll();
  assert.deepEqual(all.items.map((i) => i.kind === "message" ? i.message.id : i.kind), ["m4", "m5"]);
  assert.deepEqual(all.segments, ["seg-2"]);
  assert.equal(q.depth, 0);
  assert.equal(q.bytes, 0);
});

Deno.test("item queue: a long stream stays correct across compactions and keeps nothing it gave out", () => {
  const q = createItemQueue();
  let next = 0;
  let taken = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 100; i++) q.push(msg(next++, 1));
    const batch = q.messages(73);
    assert.equal(batch[0]!.id, `m${taken}`);
    q.take(batch.length);
    taken += batch.length;
    assert.equal(q.depth, next - taken);
    assert.equal(q.bytes, next - taken);
  }
  q.take(q.depth);
  assert.equal(q.first(), undefined);
});

Deno.test("item queue: memoryOnlyAfter and truncate keep the head and the segment bookkeeping", () => {
  const queue = createItemQueue();
  queue.pushRun([msg(0), msg(1)], "seg-a");
  queue.push(msg(2));
  queue.push(msg(3));
  assert.equal(queue.memoryOnlyAfter(1), null); // item 1 came from seg-a
  assert.deepEqual(queue.memoryOnlyAfter(2)!.map((i) => i.kind === "message" && i.message.id), ["m2", "m3"]);
  queue.truncate(2);
  assert.equal(queue.depth, 2);
  assert.equal(queue.bytes, 20);
  assert.deepEqual(queue.take(2), ["seg-a"]);
  assert.equal(queue.depth, 0);
});
