import assert from "node:assert/strict";
import { createRateLimiter } from "./rate_limit.ts";

Deno.test("rate limit: an address gets its burst, then one request per 1/perSecond; Retry-After in seconds", () => {
  let t = 0;
  const limiter = createRateLimiter({ perSecond: 2, burst: 3, now: () => t });
  for (let i = 0; i < 3; i++) assert.equal(limiter.take("a"), 0);
  assert.equal(limiter.take("a"), 1);
  assert.equal(limiter.take("b"), 0, "another address has its own bucket");
  t += 500;
  assert.equal(limiter.take("a"), 0);
  assert.equal(limiter.take("a"), 1);
  assert.equal(limiter.refused, 2);
});

Deno.test("rate limit: an address spray 10× past maxAddresses does not make a flooding address forgotten (unlimited)", () => {
  let t = 0;
  const limiter = createRateLimiter({ perSecond: 1, burst: 5, maxAddresses: 1000, now: () => t });
  for (let i = 0; i < 5; i++) assert.equal(limiter.take("flooder"), 0);
  for (let i = 0; i < 10_000; i++) {
    assert.equal(limiter.take(`spray-${i}`), 0);
    // The flooder keeps sending between the sprayed requests: still limited, not forgotten.
    if (i % 100 === 0) assert.ok(limiter.take("flooder") > 0, `flooder let through at ${i}`);
    t += 0.001;
  }
  assert.ok(limiter.refused >= 100);
});

Deno.test("rate limit: a request charged more tokens (a large answer) makes the next ones wait, at most a whole burst", () => {
  let t = 0;
  const limiter = createRateLimiter({ perSecond: 20, burst: 60, now: () => t });
  assert.equal(limiter.take("big"), 0);
  limiter.charge("big", 1000); // owes at most a burst: 60 tokens below zero
  assert.equal(limiter.take("big"), 4); // (1 + 60) / 20 s
  t += 3000;
  assert.equal(limiter.take("big"), 1);
  t += 50;
  assert.equal(limiter.take("big"), 0);
  limiter.charge("small", 0);
  for (let i = 0; i < 60; i++) assert.equal(limiter.take("small"), 0, `small ${i}`);
  assert.equal(limiter.take("small"), 1);
  const off = createRateLimiter({ perSecond: 0, burst: 1 });
  off.charge("x", 100);
  assert.equal(off.take("x"), 0);
});
