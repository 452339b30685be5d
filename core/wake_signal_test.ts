import assert from "node:assert/strict";
import { setImmediate } from "node:timers";
import { createWakeSignal } from "./wake_signal.ts";

const afterTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

Deno.test("notifySoon wakes the waiting loop once, after the turn in which it was called", async () => {
  const signal = createWakeSignal(() => false);
  let wakeUps = 0;
  const waiting = signal.wait().then(() => wakeUps++);
  for (let i = 0; i < 100; i++) signal.notifySoon();
  await Promise.resolve();
  assert.equal(wakeUps, 0, "not within the turn");
  await waiting;
  assert.equal(wakeUps, 1);
  // No waiter: nothing is scheduled, and a later wait is not woken by the earlier calls.
  signal.notifySoon();
  let woken = false;
  const later = signal.wait(30).then(() => woken = true);
  await afterTurn();
  assert.equal(woken, false);
  await later;
});

Deno.test("notify wakes at once; wait(ms) ends by itself", async () => {
  const signal = createWakeSignal(() => false);
  let woken = false;
  const waiting = signal.wait().then(() => woken = true);
  signal.notify();
  await waiting;
  assert.ok(woken);
  const started = performance.now();
  await signal.wait(20);
  assert.ok(performance.now() - started >= 15);
});

Deno.test("while lingering, only a full batch ends the wait early", async () => {
  let full = false;
  const signal = createWakeSignal(() => full);
  let done = false;
  const lingering = signal.linger(2_000).then(() => done = true);
  signal.notifySoon();
  await afterTurn();
  await afterTurn();
  assert.equal(done, false, "a push that does not fill the batch keeps it lingering");
  full = true;
  signal.notifySoon();
  await lingering;
  assert.ok(done);
  // Lingering is over: the next push wakes the loop without a full batch.
  full = false;
  const waiting = signal.wait();
  signal.notifySoon();
  await waiting;
});
