import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import type { Message } from "./message.ts";
import { createReceiverRunner, type QueueItem, type RunnerOptions } from "./runner.ts";
import type { Receiver } from "./receiver.ts";
import { capturing } from "../tests/support/console.ts";
import { failSpillWrites, makeUnremovable, numberedItem } from "../tests/support/fixtures.ts";
import { openSpillStore } from "./spill.ts";

function message(n: number): QueueItem {
  return numberedItem(n);
}

/** A receiver that fails while `failing` is true and records what it got, in order. */
function flaky(durable: boolean) {
  const got: string[] = [];
  const batches: number[] = [];
  const state = { failing: false, delayMs: 0 };
  const receiver: Receiver = {
    id: "flaky",
    durable,
    async receive(batch: Message[]) {
      if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
      if (state.failing) throw new Error("sink down");
      batches.push(batch.length);
      got.push(...batch.map((m) => m.id));
    },
    inactive(agentId) {
      if (state.failing) throw new Error("sink down");
      got.push(`inactive:${agentId}`);
    },
  };
  return { receiver, got, batches, state };
}

/** A started durable runner spilling into `dir`, whose sink fails until `state.failing` is cleared. */
async function failingDurable(dir: string, options: RunnerOptions, setup?: (receiver: Receiver) => void) {
  const sink = flaky(true);
  sink.state.failing = true;
  setup?.(sink.receiver);
  const runner = createReceiverRunner(sink.receiver, {
    spillDir: dir,
    retryBaseMs: 5,
    retryCapMs: 20,
    ...options,
  });
  await runner.start();
  return { ...sink, runner };
}

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** After a recovery: one more message is queued and delivered, and drain leaves no segment file. */
async function takesMessagesAgain(
  runner: ReturnType<typeof createReceiverRunner>,
  got: string[],
  dir: string,
  n: number,
): Promise<void> {
  const before = got.length;
  assert.equal(runner.push(message(n)), "queued");
  await until(() => got.length === before + 1);
  await runner.drain(1000);
  assert.equal(segmentFiles(dir), 0);
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

/** Once the sink works again: m0..m(n-1) arrive, in order, once, and drain leaves no segment file. */
async function deliversAllInOrder(
  runner: ReturnType<typeof createReceiverRunner>,
  got: string[],
  dir: string,
  n: number,
): Promise<void> {
  await until(() => got.length === n);
  assert.deepEqual(got, ids(0, n));
  await runner.drain(1000);
  assert.equal(segmentFiles(dir), 0);
}

Deno.test("a slow receiver gets many messages in few batches, in order", async () => {
  const { receiver, got, batches, state } = flaky(false);
  state.delayMs = 20;
  const runner = createReceiverRunner(receiver, { maxBatch: 500 });
  await runner.start();
  for (let i = 0; i < 2000; i++) assert.equal(runner.push(message(i)), "queued");
  await until(() => got.length === 2000);
  assert.deepEqual(got, ids(0, 2000));
  assert.ok(batches.length <= 6, `batches: ${batches}`);
  await runner.drain(1000);
});

Deno.test("a lingering runner waits lingerMs for a batch: later pushes do not cut it short, a full batch does", async () => {
  const { receiver, got, batches } = flaky(false);
  const runner = createReceiverRunner(receiver, { maxBatch: 10, lingerMs: 300 });
  await runner.start();
  const started = Date.now();
  runner.push(message(0));
  for (let i = 1; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 20));
    runner.push(message(i));
  }
  await until(() => got.length === 4);
  assert.ok(Date.now() - started >= 290, `delivered after ${Date.now() - started} ms, within the linger`);
  assert.deepEqual(batches, [4]);
  // A full batch (10) goes at once, long before the linger is over.
  const fullAt = Date.now();
  for (let i = 4; i < 14; i++) runner.push(message(i));
  await until(() => got.length === 14);
  assert.ok(Date.now() - fullAt < 250, `a full batch waited ${Date.now() - fullAt} ms`);
  assert.deepEqual(got, ids(0, 14));
  await runner.drain(1000);
});

Deno.test("a backlog goes out one batch per event-loop turn: I/O callbacks run between batches", async () => {
  const { receiver, got, batches } = flaky(false);
  const seen: boolean[] = [];
  let turnPassed = false;
  const receive = receiver.receive;
  receiver.receive = (batch) => {
    seen.push(turnPassed);
    turnPassed = false;
    setImmediate(() => turnPassed = true); // runs once this turn's callbacks are done
    return receive(batch);
  };
  const runner = createReceiverRunner(receiver, { maxBatch: 10 });
  for (let i = 0; i < 30; i++) runner.push(message(i));
  await runner.start();
  await until(() => got.length === 30);
  assert.deepEqual(batches, [10, 10, 10]);
  assert.deepEqual(seen.slice(1), [true, true], "a later batch went out in the same turn as the one before");
  await runner.drain(1000);
});

/** A runner whose delivery is held while `gate.busy` (the ingress meter's place in the service). */
async function heldRunner(options: RunnerOptions) {
  const sink = flaky(false);
  const gate = { busy: true };
  const runner = createReceiverRunner(sink.receiver, { holdWhile: { busy: () => gate.busy }, ...options });
  await runner.start();
  return { ...sink, gate, runner };
}

Deno.test("while the ingress is busy, delivery waits; it goes out once the burst is over", async () => {
  const { got, gate, runner } = await heldRunner({ maxHoldMs: 10_000 });
  for (let i = 0; i < 3; i++) runner.push(message(i));
  await new Promise((r) => setTimeout(r, 150));
  assert.deepEqual(got, [], "delivered during the burst");
  gate.busy = false;
  await until(() => got.length === 3, 1000);
  assert.deepEqual(got, ids(0, 3));
  assert.equal(runner.stats().held_total, 1);
  await runner.drain(1000);
});

Deno.test("holding is bounded: by the oldest message's age, by half the queue, never for inactive events", async () => {
  // Age: a busy ingress that never ends delays a message by maxHoldMs, not more.
  const aged = await heldRunner({ maxHoldMs: 200 });
  const pushedAt = Date.now();
  aged.runner.push(message(0));
  await until(() => aged.got.length === 1, 2000);
  const waited = Date.now() - pushedAt;
  assert.ok(waited >= 190 && waited < 1000, `held ${waited} ms`);
  await aged.runner.drain(1000);

  // Queue: held below half of maxQueue, delivered at once from there (nothing dropped).
  const deep = await heldRunner({ maxHoldMs: 60_000, maxQueue: 10 });
  for (let i = 0; i < 4; i++) deep.runner.push(message(i));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(deep.got, []);
  deep.runner.push(message(4));
  await until(() => deep.got.length === 5, 1000);
  assert.equal(deep.runner.stats().dropped_total, 0);
  await deep.runner.drain(1000);

  // Inactive events (the service's own) go at once.
  const inactive = await heldRunner({ maxHoldMs: 60_000 });
  inactive.runner.push({ kind: "inactive", agentId: "a" });
  await until(() => inactive.got.length === 1, 1000);
  await inactive.runner.drain(1000);
});

Deno.test("inactive events are delivered in order with messages", async () => {
  const { receiver, got } = flaky(false);
  const runner = createReceiverRunner(receiver);
  await runner.start();
  runner.push(message(0));
  runner.push({ kind: "inactive", agentId: "a" });
  runner.push(message(1));
  await until(() => got.length === 3);
  assert.deepEqual(got, ["m0", "inactive:a", "m1"]);
  await runner.drain(1000);
});

Deno.test("a live receiver's full queue drops the oldest, counted", async () => {
  const { receiver, got, state } = flaky(false);
  state.failing = true;
  const runner = createReceiverRunner(receiver, {
    maxQueue: 10,
    retryBaseMs: 1,
    retryCapMs: 2,
    liveAttempts: 1000,
  });
  await runner.start();
  const results = Array.from({ length: 15 }, (_, i) => runner.push(message(i)));
  assert.equal(results.filter((r) => r === "dropped_oldest").length, 5);
  assert.equal(runner.stats().dropped_total, 5);
  state.failing = false;
  await until(() => got.length >= 10);
  assert.deepEqual(got, ids(5, 15));
  await runner.drain(1000);
});

Deno.test("a live receiver's full queue drops what waits, not the batch in flight: the newest are delivered, each counted once", async () => {
  const got: string[] = [];
  let release: (() => void) | undefined;
  const receiver: Receiver = {
    id: "slow",
    durable: false,
    receive(batch: Message[]) {
      const ids = batch.map((m) => m.id);
      // The first batch waits for release(), the next ones go through at once.
      if (release) return void got.push(...ids);
      return new Promise<void>((resolve) => release = resolve).then(() => void got.push(...ids));
    },
  };
  const runner = createReceiverRunner(receiver, { maxQueue: 2, maxBatch: 2 });
  await runner.start();
  runner.push(message(0));
  runner.push(message(1));
  await until(() => release !== undefined); // [m0, m1] in flight
  // The batch in flight is out of the queue: two more fit, the fifth drops the oldest waiting (m2).
  assert.deepEqual([2, 3, 4].map((n) => runner.push(message(n))), ["queued", "queued", "dropped_oldest"]);
  release!();
  await until(() => got.length >= 4);
  await runner.drain(1000);
  assert.deepEqual(got, ["m0", "m1", "m3", "m4"]);
  const stats = runner.stats();
  assert.equal(stats.delivered_total, 4);
  assert.equal(stats.dropped_total, 1);
});

function sized(n: number, bytes: number): QueueItem {
  const item = message(n);
  if (item.kind === "message") item.message.bytes = bytes;
  return item;
}

Deno.test("the memory queues are bounded in bytes too: a live one drops the oldest, a durable one spills, and the spill buffer refuses", async () => {
  const live = flaky(false);
  live.state.failing = true;
  const runner = createReceiverRunner(live.receiver, {
    maxQueue: 1000,
    maxQueueBytes: 10 * 1024 * 1024,
    retryBaseMs: 1,
    retryCapMs: 2,
    liveAttempts: 1000,
  });
  await runner.start();
  const results = Array.from({ length: 30 }, (_, i) => runner.push(sized(i, 1024 * 1024))); // 1 MB reports
  assert.equal(results.filter((r) => r === "dropped_oldest").length, 20);
  assert.equal(runner.stats().queue_bytes, 10 * 1024 * 1024);
  live.state.failing = false;
  await until(() => live.got.length >= 10);
  assert.deepEqual(live.got, ids(20, 30));
  assert.equal(runner.stats().queue_bytes, 0);
  await runner.drain(1000);

  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner: durable } = await failingDurable(dir, {
      maxQueue: 1000,
      maxQueueBytes: 5 * 1024 * 1024,
      maxSpillBufferBytes: 8 * 1024 * 1024,
      segmentSize: 1000,
      spillFlushMs: 60_000, // nothing reaches the disk during the test's pushes
    });
    const out = Array.from({ length: 20 }, (_, i) => durable.push(sized(i, 1024 * 1024)));
    assert.deepEqual(
      [out.slice(0, 5), out.slice(5, 13), out.slice(13)].map((r) => [...new Set(r)]),
      [["queued"], ["spilled"], ["full"]],
    );
    assert.equal(durable.stats().spill_buffer_bytes, 8 * 1024 * 1024);
    state.failing = false;
    await until(() => got.length === 13);
    assert.deepEqual(got, ids(0, 13));
    assert.equal(durable.stats().queue_bytes, 0);
    assert.equal(durable.stats().spill_buffer_bytes, 0);
    await durable.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a durable receiver that fails spills beyond the memory bound and replays in order, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(dir, { maxQueue: 100, segmentSize: 50 });
    for (let i = 0; i < 1000; i++) runner.push(message(i));
    await until(() => runner.stats().spill_pending === 900);
    assert.ok(runner.stats().retries_total > 0);
    state.failing = false;
    await until(() => got.length === 1000);
    assert.deepEqual(got, ids(0, 1000));
    // The last segment file goes once its items are written.
    await until(() => runner.stats().spill_pending === 0 && [...Deno.readDirSync(dir)].length === 0);
    await runner.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain with a failing durable sink writes the rest to disk; the next start replays it all in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = flaky(true);
    first.state.failing = true;
    const runner = createReceiverRunner(first.receiver, {
      spillDir: dir,
      maxQueue: 100,
      segmentSize: 64,
      retryBaseMs: 5,
    });
    await runner.start();
    for (let i = 0; i < 300; i++) runner.push(message(i));
    await runner.drain(300);
    assert.equal(first.got.length, 0);
    assert.equal(runner.push(message(999)), "closed");

    const second = flaky(true);
    const again = createReceiverRunner(second.receiver, { spillDir: dir, maxQueue: 100, segmentSize: 64 });
    await again.start();
    again.push(message(300));
    await until(() => second.got.length === 301);
    assert.deepEqual(second.got, ids(0, 301));
    await again.drain(1000);
    assert.equal([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain delivers everything queued to a healthy receiver before close", async () => {
  const { receiver, got, state } = flaky(false);
  state.delayMs = 5;
  let closed = false;
  receiver.close = () => {
    closed = true;
  };
  const runner = createReceiverRunner(receiver, { maxBatch: 10 });
  await runner.start();
  for (let i = 0; i < 200; i++) runner.push(message(i));
  await runner.drain(5000);
  assert.deepEqual(got, ids(0, 200));
  assert.ok(closed);
});

const segmentFiles = (dir: string) =>
  [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".json")).length;

Deno.test("a trickle into a failing durable sink is spilled in few segment files, not one per fsync", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(dir, { maxQueue: 10, spillFlushMs: 100 });
    // 310 items, 10 every 5 ms: ~155 ms of arrivals, each far apart from an fsync's view.
    for (let i = 0; i < 310; i += 10) {
      for (let j = i; j < i + 10; j++) runner.push(message(j));
      await new Promise((r) => setTimeout(r, 5));
    }
    // A segment counts as on disk (spill_pending) a few awaits before its write settles and leaves
    // the buffer's count: wait for both.
    await until(() => runner.stats().spill_pending === 300 && runner.stats().spill_buffered === 0);
    const files = segmentFiles(dir);
    assert.ok(files <= 4, `300 items in ${files} segment files`);
    assert.equal(runner.stats().spill_buffered, 0);
    state.failing = false;
    await deliversAllInOrder(runner, got, dir, 310);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("replay hands the receiver full batches from several segments, without the linger", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, batches, state, runner } = await failingDurable(dir, {
      maxQueue: 100,
      maxBatch: 500,
      segmentSize: 10,
      lingerMs: 200,
    });
    for (let i = 0; i < 2100; i++) runner.push(message(i));
    await until(() => runner.stats().spill_pending === 2000);
    assert.equal(segmentFiles(dir), 200);
    state.failing = false;
    const started = Date.now();
    await until(() => got.length === 2100);
    const elapsed = Date.now() - started;
    assert.deepEqual(got, ids(0, 2100));
    // The 100 in memory (one linger), then 2,000 from 200 segment files in batches of 500:
    // one segment per batch with a 200 ms linger each would take 40 s.
    assert.deepEqual(batches, [100, 500, 500, 500, 500]);
    assert.ok(elapsed < 2000, `replay took ${elapsed} ms`);
    await until(() => segmentFiles(dir) === 0);
    assert.equal(runner.stats().replayed_total, 2000);
    await runner.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("at the spill buffer bound a durable runner refuses messages and inactive events (full), and loses nothing it took", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(dir, {
      maxQueue: 10,
      maxSpillBuffer: 50,
      segmentSize: 20,
    });
    // The disk goes away: spill writes fail and the buffer keeps the items.
    await Deno.remove(dir, { recursive: true });
    const results = Array.from({ length: 100 }, (_, i) => runner.push(message(i)));
    assert.deepEqual(
      [results.slice(0, 10), results.slice(10, 60), results.slice(60)].map((r) => [...new Set(r)]),
      [["queued"], ["spilled"], ["full"]],
    );
    assert.ok(runner.full());
    // An inactive event too: /bye under made-up ids had spilled past every bound.
    assert.equal(runner.push({ kind: "inactive", agentId: "a" }), "full");
    assert.equal(runner.stats().refused_total, 41);
    assert.equal(runner.stats().spill_buffered, 50);
    // The disk is back (the failed write is retried after 1 s), then the sink.
    await Deno.mkdir(dir);
    await until(() => runner.stats().spill_pending === 50 && runner.stats().spill_buffered === 0);
    assert.equal(runner.full(), false);
    assert.equal(runner.push({ kind: "inactive", agentId: "b" }), "spilled");
    state.failing = false;
    await until(() => got.length === 61);
    assert.deepEqual(got, [...ids(0, 60), "inactive:b"]);
    await takesMessagesAgain(runner, got, dir, 100);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("at the spill files' byte bound a durable runner refuses messages (full) until replay frees disk", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Any segment file reaches a 1-byte bound.
    const { got, state, runner } = await failingDurable(dir, {
      maxQueue: 10,
      segmentSize: 20,
      spillFlushMs: 5,
      maxSpillBytes: 1,
    });
    for (let i = 0; i < 10; i++) assert.equal(runner.push(message(i)), "queued");
    for (let i = 10; i < 30; i++) assert.equal(runner.push(message(i)), "spilled");
    await until(() => runner.stats().spill_pending === 20);
    const bytes = [...Deno.readDirSync(dir)].reduce(
      (sum, e) => sum + Deno.statSync(`${dir}/${e.name}`).size,
      0,
    );
    assert.equal(runner.stats().spill_bytes, bytes);
    assert.ok(runner.full());
    assert.equal(runner.push(message(30)), "full");
    assert.equal(runner.push({ kind: "inactive", agentId: "a" }), "full");
    assert.equal(runner.stats().refused_total, 2);
    // The sink comes back: everything taken is delivered, the files go, messages are taken again.
    state.failing = false;
    await until(() => got.length === 30);
    assert.deepEqual(got, ids(0, 30));
    await until(() => runner.stats().spill_bytes === 0);
    assert.equal(runner.full(), false);
    await takesMessagesAgain(runner, got, dir, 31);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("inactive events go only to a receiver that takes them: none queued, spilled or splitting the batches of one without inactive()", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(
      dir,
      { maxQueue: 10, maxBatch: 100, lingerMs: 20 },
      (receiver) => delete receiver.inactive,
    );
    for (let i = 0; i < 5; i++) {
      assert.equal(runner.push(message(i)), "queued");
      assert.equal(runner.push({ kind: "inactive", agentId: `ghost-${i}` }), "filtered");
    }
    assert.equal(runner.stats().filtered_total, 5);
    state.failing = false;
    await until(() => got.length === 5);
    assert.deepEqual(got, ids(0, 5));
    await runner.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("a receiver's accepts() filter is applied at push: filtered messages take no queue or spill space", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(
      dir,
      { maxQueue: 10 },
      (receiver) => receiver.accepts = (m) => (m.data["n"] as number) % 2 === 0,
    );
    const results = Array.from({ length: 40 }, (_, i) => runner.push(message(i)));
    assert.equal(results.filter((r) => r === "filtered").length, 20);
    assert.equal(results.filter((r) => r === "queued").length, 10);
    assert.equal(results.filter((r) => r === "spilled").length, 10);
    assert.equal(runner.stats().filtered_total, 20);
    const odd = message(3);
    assert.equal(odd.kind === "message" && runner.accepts(odd.message), false);
    state.failing = false;
    await until(() => got.length === 20);
    assert.deepEqual(got, ids(0, 40).filter((_, i) => i % 2 === 0));
    await runner.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain in the middle of a multi-segment replay writes the rest back in order; the next start delivers it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = flaky(true);
    first.state.failing = true;
    const options = {
      spillDir: dir,
      maxQueue: 100,
      maxBatch: 100,
      segmentSize: 10,
      retryBaseMs: 5,
      retryCapMs: 20,
    };
    const runner = createReceiverRunner(first.receiver, options);
    await runner.start();
    for (let i = 0; i < 1000; i++) runner.push(message(i));
    await until(() => runner.stats().spill_pending === 900);
    first.state.failing = false;
    first.state.delayMs = 30;
    await until(() => first.got.length >= 300);
    await runner.drain(10);
    const afterDrain = first.got.length;

    const second = flaky(true);
    const again = createReceiverRunner(second.receiver, options);
    await again.start();
    again.push(message(1000));
    await until(() => second.got.includes("m1000"));
    // A batch that succeeded after the drain gave up on it is written again: idempotent sinks.
    const resumeAt = Number(second.got[0]!.slice(1));
    assert.ok(resumeAt <= afterDrain, `resumed at ${resumeAt}, ${afterDrain} delivered before`);
    assert.deepEqual(second.got, ids(resumeAt, 1001));
    assert.deepEqual(first.got.slice(0, resumeAt), ids(0, resumeAt));
    await again.drain(1000);
    assert.equal(segmentFiles(dir), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain while spill writes fail (a full disk) keeps trying; nothing accepted is lost once they work", async () => {
  const dir = await Deno.makeTempDir();
  const spillDir = `${dir}/spill`;
  try {
    await capturing("error", async (errors) => {
      const first = flaky(true);
      first.state.failing = true;
      const runner = createReceiverRunner(first.receiver, {
        spillDir,
        maxQueue: 100,
        segmentSize: 64,
        retryBaseMs: 5,
      });
      await runner.start();
      for (let i = 0; i < 300; i++) runner.push(message(i));
      await until(() => runner.stats().spill_pending === 200); // beyond the memory queue: on disk
      // The disk stops taking writes: the spill directory is a file now (ENOTDIR on every write).
      await Deno.rename(spillDir, `${dir}/aside`);
      await Deno.writeTextFile(spillDir, "");
      let drained = false;
      const draining = runner.drain(50).then(() => drained = true);
      await until(() => errors.some((e) => e.includes("could not be written to disk")), 5000);
      assert.match(errors.join("\n"), /100 accepted item\(s\) could not be written to disk/);
      await new Promise((resolve) => setTimeout(resolve, 1200));
      assert.equal(
        drained,
        false,
        "still trying: before, the 100 queued items were dropped and drain returned",
      );
      await Deno.remove(spillDir);
      await Deno.rename(`${dir}/aside`, spillDir);
      await draining;

      const second = flaky(true);
      const again = createReceiverRunner(second.receiver, { spillDir, maxQueue: 100, segmentSize: 64 });
      await again.start();
      await deliversAllInOrder(again, second.got, spillDir, 300);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a spill segment that cannot be read is set aside (.corrupt, counted); the others replay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await capturing("error", async (errors) => {
      const store = await openSpillStore(dir);
      await store.append([message(0), message(1)]);
      await store.append([message(2), message(3)]);
      await store.append([message(4), message(5)]);
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const second = `${dir}/${names[1]}`;
      await Deno.writeTextFile(second, (await Deno.readTextFile(second)).slice(0, 20)); // torn

      const sink = flaky(true);
      const runner = createReceiverRunner(sink.receiver, { spillDir: dir });
      await runner.start();
      // Before: the loop stopped at the torn file for good, and every later report was spilled behind it.
      await until(() => sink.got.length === 4);
      assert.deepEqual(sink.got, ["m0", "m1", "m4", "m5"]);
      assert.equal(runner.stats().spill_corrupt_segments, 1);
      assert.equal(runner.stats().spill_corrupt_items, 2);
      assert.match(errors.join("\n"), /cannot be read .*its 2 item\(s\) are not replayed/);
      runner.push(message(6));
      await until(() => sink.got.length === 5);
      await runner.drain(1000);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [`${names[1]}.corrupt`]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a durable sink failing for spillAfterFailingMs: the memory queue behind the batch in flight goes to disk, then replays in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { got, state, runner } = await failingDurable(dir, {
      maxQueue: 1000,
      maxBatch: 10,
      segmentSize: 64,
      spillAfterFailingMs: 100,
    });
    for (let i = 0; i < 300; i++) runner.push(message(i));
    // Before: all 300 stayed in memory for the whole outage; a crash lost them.
    // The files count the items a turn before the queue lets them go: wait for both.
    await until(() => runner.stats().spill_pending === 290 && runner.stats().queue_depth === 10, 5000);
    for (let i = 300; i < 310; i++) assert.equal(runner.push(message(i)), "spilled"); // behind them
    state.failing = false;
    await deliversAllInOrder(runner, got, dir, 310);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A durable receiver whose receive hangs until `unblock()` (and whose init fails, when asked). */
function hangingSink(options: { initFails?: boolean } = {}) {
  const got: string[] = [];
  let release = () => {};
  const state = {
    hanging: true,
    initFails: options.initFails ?? false,
    unblock() {
      state.hanging = false;
      release();
    },
  };
  const receiver: Receiver = {
    id: "hanging",
    durable: true,
    init() {
      return state.initFails ? Promise.reject(new Error("database away")) : Promise.resolve();
    },
    async receive(batch) {
      if (state.hanging) await new Promise<void>((resolve) => release = resolve);
      got.push(...batch.map((m) => m.id));
    },
  };
  return { receiver, got, state };
}

Deno.test("a durable sink that hangs (a frozen database) for spillAfterFailingMs: the queue behind the batch goes to disk too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { receiver, got, state } = hangingSink();
    const runner = createReceiverRunner(receiver, {
      spillDir: dir,
      maxQueue: 1000,
      maxBatch: 10,
      segmentSize: 64,
      spillAfterFailingMs: 100,
    });
    await runner.start();
    const warned: string[] = [];
    const warn = console.warn;
    console.warn = (line: string) => warned.push(line);
    try {
      for (let i = 0; i < 300; i++) runner.push(message(i));
      // Before: a write that never answers kept all 300 in memory (no failure, no retry to hook on).
      await until(() => runner.stats().spill_pending === 290 && runner.stats().queue_depth === 10, 5000);
      state.unblock();
      await deliversAllInOrder(runner, got, dir, 300);
    } finally {
      console.warn = warn;
    }
    // And the outage is in the log (it left no line: nothing failed), once, with its end.
    assert.equal(
      warned.filter((l) => /a batch has been going out for 0\.1 s/.test(l)).length,
      1,
      warned.join("\n"),
    );
    assert.equal(
      warned.filter((l) => /that batch went out after \d+\.\d s/.test(l)).length,
      1,
      warned.join("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a call that hangs past the receiver's callTimeoutMs fails, is abandoned and retried: the retry delivers (a half-open connection)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let calls = 0;
    let abandoned = 0;
    const got: string[] = [];
    const receiver: Receiver = {
      id: "half-open",
      durable: true,
      callTimeoutMs: 100,
      receive(batch) {
        // The first call goes out on a connection that never answers; later ones on a good one.
        if (++calls === 1) return new Promise<void>(() => {});
        got.push(...batch.map((m) => m.id));
        return Promise.resolve();
      },
      abandoned() {
        abandoned++; // told, to let go of that connection
      },
    };
    const runner = createReceiverRunner(receiver, { spillDir: dir, retryBaseMs: 10 });
    await runner.start();
    for (let i = 0; i < 5; i++) runner.push(message(i));
    // Before: the first call was awaited for good, nothing delivered.
    await until(() => got.length === 5, 3000);
    assert.deepEqual(got, ids(0, 5));
    assert.equal(runner.stats().errors_total, 1);
    assert.equal(abandoned, 1);
    await runner.drain(1000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sink that hangs when nothing waits behind its batch: what comes later goes to disk, not to memory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { receiver, got, state } = hangingSink();
    const runner = createReceiverRunner(receiver, { spillDir: dir, maxBatch: 10, spillAfterFailingMs: 100 });
    await runner.start();
    for (let i = 0; i < 10; i++) runner.push(message(i));
    await new Promise((resolve) => setTimeout(resolve, 200)); // the move found nothing to move
    for (let i = 10; i < 300; i++) runner.push(message(i));
    // Before: all 290 stayed in the memory queue for the rest of the outage.
    await until(() => runner.stats().spill_pending === 290 && runner.stats().queue_depth === 10, 5000);
    state.unblock();
    await deliversAllInOrder(runner, got, dir, 300);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a receiver whose init keeps failing (the database away at start) has its queue moved to disk too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { receiver, got, state } = hangingSink({ initFails: true });
    state.hanging = false;
    const runner = createReceiverRunner(receiver, {
      spillDir: dir,
      maxBatch: 10,
      retryBaseMs: 5,
      retryCapMs: 20,
      spillAfterFailingMs: 100,
    });
    await runner.start();
    for (let i = 0; i < 300; i++) runner.push(message(i));
    // Before: init retried for the whole outage with the 300 in memory.
    // The files count the items before the queue lets them go (a turn later): wait for both.
    await until(() => runner.stats().spill_pending === 300 && runner.stats().queue_depth === 0, 5000);
    state.initFails = false;
    await deliversAllInOrder(runner, got, dir, 300);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spill writes failing (a full disk) do not keep what waits for them from a sink that is back", async () => {
  const dir = await Deno.makeTempDir();
  const spillDir = `${dir}/spill`;
  try {
    await capturing("error", async () => {
      const sink = await failingDurable(spillDir, { maxQueue: 100, segmentSize: 64, maxSpillBuffer: 1000 });
      await failSpillWrites(spillDir); // the disk takes no writes
      for (let i = 0; i < 300; i++) assert.notEqual(sink.runner.push(message(i)), "full");
      await until(() => sink.runner.stats().spill_buffered === 200);
      await new Promise((resolve) => setTimeout(resolve, 100)); // writes fail, and are tried again
      sink.state.failing = false;
      // Before: replay waited for a segment write that kept failing and starting again at once
      // (200 waiting, at least a segment's worth): 100 delivered, the rest held until the disk
      // was freed, and the buffer at its bound refused new reports meanwhile.
      await until(() => sink.got.length === 300, 5000);
      assert.deepEqual(sink.got, ids(0, 300));
      assert.notEqual(sink.runner.push(message(300)), "full");
      await until(() => sink.got.length === 301);
      await sink.runner.drain(1000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a replayed segment whose file cannot be removed is delivered once, not replayed again and again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await capturing("error", async (errors) => {
      const sink = await failingDurable(dir, { maxQueue: 10, maxBatch: 10, segmentSize: 10 }, (receiver) => {
        const receive = receiver.receive.bind(receiver);
        let blocked = false;
        receiver.receive = async (batch) => {
          // The first replayed segment's file (m10-m19; m0-m9 were queued in memory) turns into
          // something that cannot be removed (a non-empty directory: as a read-only mount would
          // refuse it) while it goes out.
          if (!sink.state.failing && !blocked && batch[0]?.id === "m10") {
            await makeUnremovable(`${dir}/${[...Deno.readDirSync(dir)].map((e) => e.name).sort()[0]!}`);
            blocked = true;
          }
          return await receive(batch);
        };
      });
      for (let i = 0; i < 40; i++) sink.runner.push(message(i));
      await until(() => sink.runner.stats().spill_pending === 30);
      sink.state.failing = false;
      await until(() => sink.got.length >= 40);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Before: the segment was read again after each failed removal, 58× in a real run.
      assert.deepEqual(sink.got, ids(0, 40));
      assert.match(errors.join("\n"), /removing spill segment .* failed/);
      assert.equal(sink.runner.stats().spill_pending, 0);
      await sink.runner.drain(1000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a receiver whose close() never returns (its database frozen) does not keep drain from returning", async () => {
  const sink = flaky(false);
  let closeCalled = false;
  sink.receiver.close = () => {
    closeCalled = true;
    return new Promise<void>(() => {}); // the web receiver's last block save on a frozen Postgres
  };
  const runner = createReceiverRunner(sink.receiver, { closeTimeoutMs: 100 });
  await runner.start();
  runner.push(message(0));
  await until(() => sink.got.length === 1);
  const warned = await capturing("warn", async (lines) => {
    const started = Date.now();
    await runner.drain(1000); // before: never returned, and the service never stopped
    assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
    return lines;
  });
  assert.equal(closeCalled, true);
  assert.match(warned.join("\n"), /close did not finish within 0.1 s; stopping without it/);
});

Deno.test("while spill writes fail, what replay takes back from the spill buffer stays within the memory queue's bound", async () => {
  const dir = await Deno.makeTempDir();
  const spillDir = `${dir}/spill`;
  try {
    await capturing("error", async () => {
      const sink = await failingDurable(spillDir, {
        maxQueue: 100,
        maxBatch: 50,
        segmentSize: 50,
        maxSpillBuffer: 1000,
        spillAfterFailingMs: Infinity,
      });
      await failSpillWrites(spillDir);
      const accepted: string[] = [];
      let n = 0;
      const push = () => {
        if (sink.runner.push(message(n)) !== "full") accepted.push(`m${n}`);
        n++;
      };
      while (n < 1100) push();
      sink.state.delayMs = 100; // back, but slow
      sink.state.failing = false;
      let mostQueued = 0;
      const loadEnds = Date.now() + 1500;
      while (Date.now() < loadEnds) {
        for (let i = 0; i < 20; i++) push();
        const s = sink.runner.stats();
        mostQueued = Math.max(mostQueued, s.queue_depth - s.spill_buffered);
        await new Promise((r) => setTimeout(r, 10));
      }
      // Before: the whole buffer (up to maxSpillBuffer) went into the queue, and the buffer filled
      // again behind it: 1,000 queued here beside 1,000 buffered.
      assert.ok(mostQueued <= 100, `${mostQueued} queued in memory`);
      // The disk and the sink back to normal: everything accepted arrives, in order, once.
      await Deno.remove(spillDir);
      sink.state.delayMs = 0;
      await until(() => sink.got.length >= accepted.length, 10_000);
      assert.deepEqual(sink.got, accepted);
      await sink.runner.drain(1000);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("drain while a replayed segment's file cannot be removed: it returns, and the queue is saved in front", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await capturing("error", async (errors) => {
      let release!: () => void;
      const frozen = new Promise<void>((resolve) => release = resolve);
      const sink = await failingDurable(dir, {
        maxQueue: 10,
        maxBatch: 20,
        segmentSize: 10,
        spillAfterFailingMs: Infinity,
      }, (receiver) => {
        const receive = receiver.receive.bind(receiver);
        receiver.receive = async (batch) => {
          if (!sink.state.failing && batch[0]?.id === "m10") await frozen; // a frozen sink
          return await receive(batch);
        };
      });
      for (let i = 0; i < 40; i++) sink.runner.push(message(i));
      await until(() => sink.runner.stats().spill_pending === 30 && sink.runner.stats().spill_buffered === 0);
      sink.state.failing = false;
      await until(() => sink.got.length === 10 && sink.runner.stats().queue_depth === 20); // m10-m29 loaded
      const first = [...Deno.readDirSync(dir)].map((e) => e.name).sort()[0]!;
      await makeUnremovable(`${dir}/${first}`);
      // Before: drain never returned, logging "0 accepted item(s) could not be written" every 10 s.
      await sink.runner.drain(50);
      assert.match(
        errors.join("\n"),
        /removing replayed spill segment .* failed \(read again at the next start\)/,
      );
      release();
      await Deno.remove(`${dir}/${first}`, { recursive: true });
      // The next start delivers what was left (m0-m9 went out), in order, once: the file was
      // freed before it, so nothing is read twice.
      const again = flaky(true);
      const next = createReceiverRunner(again.receiver, { spillDir: dir, maxQueue: 10, segmentSize: 10 });
      await next.start();
      await until(() => again.got.length === 30);
      assert.deepEqual(again.got, ids(10, 40));
      await next.drain(1000);
      assert.equal(segmentFiles(dir), 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
