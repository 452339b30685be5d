import assert from "node:assert/strict";
import { nextTurn } from "./delivery_policy.ts";
import { createWakeSignal } from "./wake_signal.ts";

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
  await nextTurn();
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
  await nextTurn();
  await nextTurn();
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

Deno.test("several loops asked to wake in one turn all wake after it, in the order they were asked", async () => {
  const signals = [0, 1, 2].map(() => createWakeSignal(() => false));
  const order: number[] = [];
  const waiting = signals.map((s, i) => s.wait().then(() => order.push(i)));
  signals[2]!.notifySoon();
  signals[0]!.notifySoon();
  signals[1]!.notifySoon();
  await Promise.resolve();
  assert.equal(order.length, 0, "not within the turn");
  await Promise.all(waiting);
  assert.deepEqual(order, [2, 0, 1]);
  // And again on a later turn: the shared wake-up is scheduled anew.
  const again = signals[1]!.wait().then(() => order.push(1));
  signals[1]!.notifySoon();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise((_, reject) => timer = setTimeout(() => reject(new Error("never woken")), 2_000));
  await Promise.race([again, late]).finally(() => clearTimeout(timer));
  assert.deepEqual(order, [2, 0, 1, 1]);
});
