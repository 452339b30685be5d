import assert from "node:assert/strict";
import type { QueueItem } from "./queue_item.ts";
import { createSpillBuffer, type SpillBufferOptions } from "./spill_buffer.ts";
import { openSpillStore, type SpillStore } from "./spill.ts";
import { numberedItem } from "../tests/support/fixtures.ts";

function msg(n: number, bytes = 10): QueueItem {
  return numberedItem(n, { bytes, receivedAt: 0 });
}

async function setup(over: Partial<SpillBufferOptions> = {}, store?: (s: SpillStore) => SpillStore) {
  const dir = await Deno.makeTempDir({ prefix: "spill-buffer-" });
  const real = await openSpillStore(dir);
  const used = store ? store(real) : real;
  let stopping = false;
  let settled = 0;
  const stop = new AbortController();
  const buffer = createSpillBuffer({
    store: () => used,
    segmentSize: 2,
    flushMs: 30,
    maxItems: 5,
    maxBytes: 1000,
    stopping: () => stopping,
    signal: stop.signal,
    onSettled: () => settled++,
    label: "test",
    ...over,
  });
  /** Everything on disk, oldest segment first. */
  const onDisk = async () => {
    const ns: number[] = [];
    for (let s = await real.oldest(); s; s = await real.next(s.name)) {
      for (const item of s.items) {
        if (item.kind === "message") ns.push((item.message.data as { n: number }).n);
      }
    }
    return ns;
  };
  const done = async () => {
    stopping = true;
    stop.abort();
    buffer.cancel();
    await buffer.writing()?.catch(() => {});
    await Deno.remove(dir, { recursive: true });
  };
  return { buffer, onDisk, done, stopNow: () => stopping = true, settled: () => settled };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("spill buffer: a full segment is written at once, a partial one after flushMs, in order", async () => {
  const t = await setup();
  for (const n of [1, 2, 3]) t.buffer.add(msg(n));
  assert.equal(t.buffer.items(), 3); // two in the write in flight, one waiting
  assert.equal(t.buffer.waiting(), 1);
  await t.buffer.writing();
  assert.deepEqual(await t.onDisk(), [1, 2]);
  await sleep(80);
  assert.deepEqual(await t.onDisk(), [1, 2, 3]);
  assert.equal(t.buffer.items(), 0);
  assert.equal(t.buffer.bytes(), 0);
  assert.equal(t.buffer.written(), 3);
  assert.ok(t.settled() >= 2);
  await t.done();
});

Deno.test("spill buffer: bounded in items and in bytes, the write in flight included", async () => {
  const t = await setup({ flushMs: 10_000 });
  for (const n of [1, 2, 3, 4]) t.buffer.add(msg(n));
  assert.equal(t.buffer.atBound(), false);
  t.buffer.add(msg(5));
  assert.equal(t.buffer.atBound(), true); // 5 items, some of them being written
  await t.done();
  const b = await setup({ flushMs: 10_000, segmentSize: 100 });
  b.buffer.add(msg(1, 600));
  assert.equal(b.buffer.atBound(), false);
  b.buffer.add(msg(2, 400));
  assert.equal(b.buffer.atBound(), true);
  assert.equal(b.buffer.bytes(), 1000);
  assert.deepEqual(b.buffer.takeWaiting().length, 2); // replay took them back
  assert.equal(b.buffer.bytes(), 0);
  await b.done();
});

Deno.test("spill buffer: a failed write keeps its items in front and is written again", async () => {
  let failures = 1;
  const t = await setup({ flushMs: 5 }, (real) => ({
    ...real,
    append(items) {
      if (failures-- > 0) return Promise.reject(new Error("disk full"));
      return real.append(items);
    },
    get pendingItems() {
      return real.pendingItems;
    },
    get pendingBytes() {
      return real.pendingBytes;
    },
    get segments() {
      return real.segments;
    },
  }));
  t.buffer.add(msg(1));
  t.buffer.add(msg(2)); // written at once: fails
  t.buffer.add(msg(3));
  await sleep(50); // the failed write pauses a second before the next
  assert.equal(t.buffer.waiting(), 3); // 1 and 2 back in front of 3
  assert.equal(t.buffer.written(), 0);
  // Counted once during the pause (were 5 items, 50 bytes: at the bound of 5 with 3 held).
  assert.equal(t.buffer.items(), 3);
  assert.equal(t.buffer.bytes(), 30);
  assert.equal(t.buffer.atBound(), false);
  const deadline = Date.now() + 5000;
  while ((await t.onDisk()).length < 3 && Date.now() < deadline) await sleep(50);
  assert.deepEqual(await t.onDisk(), [1, 2, 3]);
  await t.done();
});

Deno.test("spill buffer: while stopping, flush writes everything still waiting", async () => {
  const t = await setup({ flushMs: 10_000, segmentSize: 2 });
  t.buffer.add(msg(1));
  t.stopNow();
  for (const n of [2, 3, 4, 5]) t.buffer.add(msg(n));
  await t.buffer.flush();
  assert.deepEqual(await t.onDisk(), [1, 2, 3, 4, 5]);
  assert.equal(t.buffer.items(), 0);
  await t.done();
});
