import assert from "node:assert/strict";
import { createIngressMeter } from "./ingress.ts";

/** A meter on a clock the test sets. */
function manualMeter(busyAtPerSecond: number) {
  const clock = { t: 1_000_000 };
  const meter = createIngressMeter({ busyAtPerSecond, windowMs: 100, holdMs: 150, now: () => clock.t });
  const frames = (n: number) => {
    for (let i = 0; i < n; i++) meter.note();
  };
  return { clock, meter, frames };
}

Deno.test("ingress meter: below the rate it stays idle", () => {
  const { clock, meter, frames } = manualMeter(1000); // 100 per 100 ms window
  for (let w = 0; w < 20; w++) {
    frames(99);
    assert.equal(meter.busy(), false);
    clock.t += 100;
  }
});

Deno.test("ingress meter: busy within the window that reaches the rate, held after it ends", () => {
  const { clock, meter, frames } = manualMeter(1000);
  frames(60);
  assert.equal(meter.busy(), false);
  clock.t += 30;
  frames(40); // 100 in this window: the rate is reached part-way through it
  assert.equal(meter.busy(), true);
  clock.t += 70; // next window, nothing yet: the previous one still counts
  assert.equal(meter.busy(), true);
  clock.t += 100; // two windows on, nothing since: held 150 ms after the last busy reading
  assert.equal(meter.busy(), true);
  clock.t += 60;
  assert.equal(meter.busy(), false);
});

Deno.test("ingress meter: a gap of several windows forgets the burst", () => {
  const { clock, meter, frames } = manualMeter(1000);
  frames(150);
  clock.t += 1000;
  frames(1); // the window before this one is not the burst's
  assert.equal(meter.busy(), false);
});
