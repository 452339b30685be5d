import assert from "node:assert/strict";
import { createLoginLimiter } from "./login_limit.ts";

Deno.test("a key locks after maxFailures within the window and unlocks when the oldest leaves it", () => {
  let now = 0;
  const limiter = createLoginLimiter({ maxFailures: 2, windowSeconds: 10, now: () => now });
  limiter.fail(["user:a"]);
  now = 4000;
  limiter.fail(["user:a"]);
  assert.deepEqual(limiter.check(["user:a"]), { limited: true, retryAfterSeconds: 6 });
  assert.deepEqual(limiter.check(["user:b"]), { limited: false });
  now = 10_001;
  assert.deepEqual(limiter.check(["user:a"]), { limited: false });
  assert.equal(limiter.failures, 2);
});

Deno.test("the limiter forgets the oldest keys beyond maxKeys", () => {
  const limiter = createLoginLimiter({ maxFailures: 1, windowSeconds: 10, maxKeys: 3 });
  for (const k of ["a", "b", "c", "d"]) limiter.fail([k]);
  assert.deepEqual(limiter.check(["a"]), { limited: false });
  assert.equal(limiter.check(["d"]).limited, true);
});
