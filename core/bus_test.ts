import assert from "node:assert/strict";
import { createLocalBus } from "./bus.ts";
import { type Message, payloadType } from "./message.ts";
import { createReceiverRunner } from "./runner.ts";
import type { Receiver } from "./receiver.ts";

function report(n: number, type: string): Message {
  return {
    id: `m${n}`,
    agentId: "a",
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type, body: { n } },
    receivedAt: Date.now(),
  };
}

Deno.test("publish is all or nothing: a durable receiver at its spill bound refuses the message for every queue", async () => {
  const dir = await Deno.makeTempDir();
  const live: string[] = [];
  const sink: Receiver = {
    id: "stats",
    durable: true,
    accepts: (m) => payloadType(m) === "statistics",
    receive: () => Promise.reject(new Error("sink down")),
  };
  const feed: Receiver = {
    id: "feed",
    durable: false,
    receive(batch) {
      live.push(...batch.map((m) => m.id));
      return Promise.resolve();
    },
  };
  // One item in memory, two in the spill buffer (a flush timer far away keeps them there).
  const durable = createReceiverRunner(sink, {
    spillDir: dir,
    maxQueue: 1,
    maxSpillBuffer: 2,
    spillFlushMs: 60_000,
    retryBaseMs: 5,
    retryCapMs: 20,
  });
  const liveRunner = createReceiverRunner(feed);
  try {
    await durable.start();
    await liveRunner.start();
    const bus = createLocalBus([
      { runner: durable, subscribe: ["ethereum_metrics"] },
      { runner: liveRunner, subscribe: ["ethereum_metrics"] },
    ]);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(bus.publish(report(i, "statistics")), { state: "published" });
    }
    assert.deepEqual(bus.publish(report(3, "statistics")), { state: "overloaded", receivers: ["stats"] });
    // A block is not stored by the full receiver: it goes through.
    assert.deepEqual(bus.publish(report(4, "block")), { state: "published" });
    const { pushes, published } = bus.stats();
    assert.deepEqual(pushes, { queued: 5, spilled: 2, dropped_oldest: 0, closed: 0, filtered: 1, full: 1 });
    assert.deepEqual(published, { ethereum_metrics: 4 }); // the refused one is not counted
    assert.equal(durable.stats().refused_total, 1);
    assert.equal(durable.stats().filtered_total, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(live, ["m0", "m1", "m2", "m4"]);
  } finally {
    await liveRunner.drain(1000);
    await durable.drain(10);
    await Deno.remove(dir, { recursive: true });
  }
});
