import assert from "node:assert/strict";
import type { Message } from "./message.ts";
import { createReceiverRunner, type QueueItem } from "./runner.ts";
import type { Receiver } from "../receivers/types.ts";

function message(n: number): QueueItem {
  return {
    kind: "message",
    message: {
      id: `m${n}`,
      agentId: "a",
      dataType: "ethereum_metrics",
      messageType: "data",
      data: { n },
      receivedAt: Date.now(),
    },
  };
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

async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `m${from + i}`);

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

Deno.test("a durable receiver that fails spills beyond the memory bound and replays in order, once", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { receiver, got, state } = flaky(true);
    state.failing = true;
    const runner = createReceiverRunner(receiver, {
      spillDir: dir,
      maxQueue: 100,
      segmentSize: 50,
      retryBaseMs: 5,
      retryCapMs: 20,
    });
    await runner.start();
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
