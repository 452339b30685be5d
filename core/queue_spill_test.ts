import assert from "node:assert/strict";
import { createItemQueue, type ItemQueue } from "./item_queue.ts";
import { createQueueSpill, type QueueSpillOptions } from "./queue_spill.ts";
import type { QueueItem } from "./queue_item.ts";
import { numberedItem } from "../tests/support/fixtures.ts";
import { openSpillStore } from "./spill.ts";

const ids = (items: readonly QueueItem[]) =>
  items.map((i) => i.kind === "message" ? i.message.id : i.agentId);
const range = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => numberedItem(from + i));

function spillFor(dir: string, queue: ItemQueue, options: Partial<QueueSpillOptions> = {}) {
  const stop = new AbortController();
  const side = createQueueSpill({
    label: "test",
    dir,
    queue,
    maxBatch: 10,
    maxQueue: 100,
    segmentSize: 25,
    spillFlushMs: 5,
    maxSpillBuffer: 1000,
    maxSpillBufferBytes: Infinity,
    maxSpillBytes: Infinity,
    spillAfterFailingMs: Infinity,
    stopping: () => false,
    signal: stop.signal,
    onSettled: () => {},
    ...options,
  });
  return { side, stop };
}

/** Takes everything out the way the runner's loop does: top up, take a batch, remove its files. */
async function takeAll(side: ReturnType<typeof createQueueSpill>, queue: ItemQueue): Promise<string[]> {
  const out: string[] = [];
  for (let turn = 0; turn < 1000; turn++) {
    if (side.replaying()) await side.topUp();
    if (queue.depth === 0) return out;
    out.push(...queue.messages(10).map((m) => m.id));
    await side.removeDelivered(queue.take(Math.min(10, queue.depth)));
  }
  throw new Error("did not empty");
}

Deno.test("queue spill: what was queued, then spilled to files, then still buffered comes back in that order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const queue = createItemQueue();
    const { side } = spillFor(dir, queue);
    assert.equal(await side.open(), 0);
    queue.pushRun(range(0, 5), null);
    assert.equal(side.diverting(), false);
    for (const item of range(5, 80)) side.add(item); // three segments' worth, the rest buffered
    assert.equal(side.diverting(), true);
    await new Promise((r) => setTimeout(r, 50)); // the flush timer writes the buffer
    for (const item of range(80, 90)) side.add(item);
    assert.deepEqual(await takeAll(side, queue), ids(range(0, 90)));
    assert.equal(side.diverting(), false);
    // Read back from files: the first 75, and the last 10 too if the flush timer wrote them first.
    assert.ok([75, 85].includes(side.stats().replayed_total));
    assert.equal((await openSpillStore(dir)).segments, 0); // every delivered segment's file is gone
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue spill: saveAll writes the queue in front of the files, and the next open replays all in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const queue = createItemQueue();
    const { side } = spillFor(dir, queue, { stopping: () => true });
    await side.open();
    queue.pushRun(range(0, 40), null);
    for (const item of range(40, 70)) side.add(item);
    await side.saveAll(false);
    assert.equal(side.closedOut(), true);
    assert.equal(queue.depth, 0);
    assert.equal(side.stats().spill_pending, 70);

    const again = createItemQueue();
    const next = spillFor(dir, again).side;
    assert.equal(await next.open(), 70);
    assert.equal(next.replaying(), true);
    assert.deepEqual(await takeAll(next, again), ids(range(0, 70)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("queue spill: a batch out for spillAfterFailingMs has the queue behind it moved to disk, in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const queue = createItemQueue();
    const { side } = spillFor(dir, queue, { spillAfterFailingMs: 20 });
    await side.open();
    queue.pushRun(range(0, 60), null);
    let finish = (_ok: boolean) => {};
    const batch = new Promise<boolean>((resolve) => finish = resolve);
    const waiting = side.moveQueueIfSlow(batch, 10);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(side.stats().spill_pending, 50); // behind the 10 in flight
    assert.equal(queue.depth, 10);
    assert.equal(side.diverting(), true); // what comes next goes behind them
    side.add(numberedItem(60));
    finish(true);
    assert.equal(await waiting, true);
    assert.deepEqual(await takeAll(side, queue), ids(range(0, 61)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
