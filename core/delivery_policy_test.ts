import assert from "node:assert/strict";
import { backoffMs, createRetry, shouldHold } from "./delivery_policy.ts";
import type { QueueItem } from "./queue_item.ts";

function failing(times: number) {
  let calls = 0;
  return {
    op: () => {
      if (calls++ < times) throw new Error(`failure ${calls}`);
    },
    calls: () => calls,
  };
}

Deno.test("retry: durable retries until the call works, live gives up after its attempts", async () => {
  const stop = new AbortController();
  const durable = createRetry({ baseMs: 1, capMs: 4, attempts: Infinity, signal: stop.signal, label: "t" });
  const f = failing(12);
  assert.equal(await durable.run("receive", f.op), true);
  assert.equal(f.calls(), 13);
  assert.equal(durable.errors(), 12);
  assert.equal(durable.retries(), 12);
  const live = createRetry({ baseMs: 1, capMs: 4, attempts: 3, signal: stop.signal, label: "t" });
  const g = failing(10);
  assert.equal(await live.run("receive", g.op), false);
  assert.equal(g.calls(), 3);
  assert.equal(live.retries(), 2);
});

Deno.test("retry: a call that works synchronously is answered true at once; a rejected promise is retried like a throw", async () => {
  const stop = new AbortController();
  const retry = createRetry({ baseMs: 1, capMs: 4, attempts: Infinity, signal: stop.signal, label: "t" });
  let calls = 0;
  assert.equal(retry.run("receive", () => void calls++), true); // no promise to wait for
  assert.equal(calls, 1);
  const resolved = retry.run("receive", () => Promise.resolve());
  assert.ok(resolved instanceof Promise);
  assert.equal(await resolved, true);
  let rejections = 0;
  const rejecting = () => rejections++ < 3 ? Promise.reject(new Error("down")) : Promise.resolve();
  assert.equal(await retry.run("receive", rejecting), true);
  assert.equal(rejections, 4);
  assert.equal(retry.errors(), 3);
  assert.equal(retry.retries(), 3);
  const f = failing(2); // throws synchronously twice, then works
  assert.equal(await retry.run("receive", f.op), true);
  assert.equal(f.calls(), 3);
});

Deno.test("retry: a shutdown ends the wait at once and gives up", async () => {
  const stop = new AbortController();
  const retry = createRetry({
    baseMs: 60_000,
    capMs: 60_000,
    attempts: Infinity,
    signal: stop.signal,
    label: "t",
  });
  const started = Date.now();
  const run = retry.run("receive", failing(100).op);
  setTimeout(() => stop.abort(), 20);
  assert.equal(await run, false);
  assert.ok(Date.now() - started < 5000);
});

Deno.test("backoff: between half and all of the capped exponential", () => {
  for (let attempt = 0; attempt < 40; attempt++) {
    const full = Math.min(5000, 100 * 2 ** Math.min(attempt, 20));
    const d = backoffMs(attempt, 100, 5000);
    assert.ok(d >= full / 2 && d <= full, `attempt ${attempt}: ${d}`);
  }
});

Deno.test("hold: only messages, only during a burst, never beyond maxHoldMs, half the queue, a stop or a replay", () => {
  const message = (receivedAt: number): QueueItem => ({
    kind: "message",
    message: { id: "m", agentId: "a", dataType: "d", messageType: "data", data: {}, receivedAt, bytes: 1 },
  });
  const busy = { busy: () => true };
  const base = {
    holdWhile: busy,
    maxHoldMs: 2000,
    maxQueue: 100,
    urgent: false,
    depth: 10,
    first: message(1000),
  };
  assert.equal(shouldHold(base, 1500), true);
  assert.equal(shouldHold({ ...base, holdWhile: { busy: () => false } }, 1500), false);
  assert.equal(shouldHold({ ...base, holdWhile: undefined }, 1500), false);
  assert.equal(shouldHold(base, 3000), false); // the oldest waited maxHoldMs
  assert.equal(shouldHold({ ...base, depth: 50 }, 1500), false); // half the queue
  assert.equal(shouldHold({ ...base, urgent: true }, 1500), false);
  assert.equal(shouldHold({ ...base, first: { kind: "inactive", agentId: "a" } }, 1500), false);
});
