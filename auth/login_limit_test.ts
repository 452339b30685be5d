import assert from "node:assert/strict";
import { createLoginLimiter } from "./login_limit.ts";

function limiter(extra: Partial<Parameters<typeof createLoginLimiter>[0]> = {}) {
  let t = 1_000_000;
  const l = createLoginLimiter({
    maxFailures: 3,
    maxFailuresPerAddress: 5,
    windowSeconds: 10,
    now: () => t,
    ...extra,
  });
  return { l, advance: (ms: number) => (t += ms) };
}

Deno.test("attempts count when they start: parallel guesses get no more checks than the limit", () => {
  const { l } = limiter();
  const started = Array.from({ length: 10 }, () => l.begin("agent", "10.0.0.1", "alice"));
  assert.deepEqual(started.map((s) => s.limited), [
    false,
    false,
    false,
    true,
    true,
    true,
    true,
    true,
    true,
    true,
  ]);
  for (const s of started) if (!s.limited) s.attempt.settle("wrong");
  assert.equal(l.failures, 3);
  assert.equal(l.refused, 7);
  // even the right password is refused now, until the window passes
  assert.equal(l.begin("agent", "10.0.0.1", "alice").limited, true);
});

Deno.test("refused while attempts are still running: Retry-After 1 s, and the wait is the window's once they failed", () => {
  const { l } = limiter();
  const running = Array.from({ length: 3 }, () => l.begin("agent", "10.0.0.1", "alice"));
  const refused = l.begin("agent", "10.0.0.1", "alice");
  // A fleet's parallel logins with the right password: the checks still running may be taken back.
  assert.deepEqual(refused, { limited: true, retryAfterSeconds: 1, by: "pair" });
  for (const s of running) if (!s.limited) s.attempt.settle("ok");
  assert.equal(l.begin("agent", "10.0.0.1", "alice").limited, false); // taken back: room again
  const { l: other } = limiter();
  for (const s of Array.from({ length: 3 }, () => other.begin("agent", "10.0.0.1", "bob"))) {
    if (!s.limited) s.attempt.settle("wrong");
  }
  assert.deepEqual(other.begin("agent", "10.0.0.1", "bob"), {
    limited: true,
    retryAfterSeconds: 10,
    by: "pair",
  });
});

Deno.test("a right password (or a banned user's right password) is taken back; only wrong ones stay counted", () => {
  const { l } = limiter();
  for (let i = 0; i < 10; i++) {
    const s = l.begin("agent", "10.0.0.1", "alice");
    assert.equal(s.limited, false);
    if (!s.limited) s.attempt.settle(i % 2 === 0 ? "ok" : "not_a_guess");
  }
  assert.equal(l.failures, 0);
  assert.equal(l.keys, 0);
});

Deno.test("one locked user at an address does not lock its neighbours or the admins there", () => {
  const { l, advance } = limiter();
  for (let i = 0; i < 3; i++) {
    const s = l.begin("agent", "nat", "banned-agent");
    if (!s.limited) s.attempt.settle("wrong");
  }
  assert.equal(l.begin("agent", "nat", "banned-agent").limited, true);
  const neighbour = l.begin("agent", "nat", "bob");
  assert.equal(neighbour.limited, false);
  assert.equal(l.begin("admin", "nat", "root").limited, false);
  assert.equal(l.begin("agent", "elsewhere", "banned-agent").limited, false);
  // the window slides: the lock ends
  advance(10_001);
  assert.equal(l.begin("agent", "nat", "banned-agent").limited, false);
});

Deno.test("guessing across many names from one address hits the per-address ceiling; Retry-After says when it lifts", () => {
  const { l, advance } = limiter();
  for (const name of ["a", "b", "c", "d", "e"]) {
    const s = l.begin("agent", "attacker", name);
    if (!s.limited) s.attempt.settle("wrong");
    advance(1000);
  }
  const refused = l.begin("agent", "attacker", "f");
  assert.deepEqual(refused, { limited: true, retryAfterSeconds: 5, by: "address" });
  assert.equal(l.begin("admin", "attacker", "root").limited, false); // admins are counted apart
  assert.equal(l.begin("agent", "other", "f").limited, false);
});

Deno.test("maxFailures 0 turns the limit off but still counts failures; keys are bounded", () => {
  const off = createLoginLimiter({ maxFailures: 0, windowSeconds: 10 });
  for (let i = 0; i < 50; i++) {
    const s = off.begin("agent", "x", "y");
    assert.equal(s.limited, false);
    if (!s.limited) s.attempt.settle("wrong");
  }
  assert.equal(off.failures, 50);
  const { l } = limiter({ maxKeys: 100 });
  for (let i = 0; i < 1000; i++) {
    const s = l.begin("agent", `addr-${i}`, `user-${i}`);
    if (!s.limited) s.attempt.settle("wrong");
  }
  assert.ok(l.keys <= 100);
});

Deno.test("a spray of 10× maxKeys other addresses does not unlock an address that keeps guessing", () => {
  const { l, advance } = limiter({ maxKeys: 100 });
  for (let i = 0; i < 3; i++) {
    const s = l.begin("agent", "guesser", "admin");
    if (!s.limited) s.attempt.settle("wrong");
  }
  for (let i = 0; i < 1000; i++) {
    const s = l.begin("agent", `spray-${i}`, `user-${i}`);
    if (!s.limited) s.attempt.settle("wrong");
    if (i % 20 === 0) assert.equal(l.begin("agent", "guesser", "admin").limited, true, `unlocked at ${i}`);
    advance(1);
    assert.ok(l.keys <= 100);
  }
});

Deno.test("settling twice does nothing", () => {
  const { l } = limiter();
  const s = l.begin("agent", "a", "u");
  assert.equal(s.limited, false);
  if (!s.limited) {
    s.attempt.settle("wrong");
    s.attempt.settle("ok");
  }
  assert.equal(l.failures, 1);
  assert.equal(l.keys, 2);
});

Deno.test("user names over 64 characters (no user has one) share one key per address: keys stay small", () => {
  const { l } = limiter({ maxFailures: 1000, maxFailuresPerAddress: 100_000 });
  for (let i = 0; i < 200; i++) {
    l.begin("agent", "10.0.0.9", `${i}-${"u".repeat(3000)}`);
  }
  assert.equal(l.keys, 2); // the address, and one pair for every long name
  l.begin("agent", "10.0.0.9", "u".repeat(64));
  assert.equal(l.keys, 3); // a name a user may have keeps a key of its own
});

Deno.test("a refusal says which key is at its limit: the name at this address, or the address itself", () => {
  const { l } = limiter(); // 3 per pair, 5 per address
  for (let i = 0; i < 3; i++) assert.equal(l.begin("agent", "10.0.0.7", "alice").limited, false);
  const pair = l.begin("agent", "10.0.0.7", "alice");
  assert.ok(pair.limited && pair.by === "pair");
  for (let i = 0; i < 2; i++) assert.equal(l.begin("agent", "10.0.0.7", `bob${i}`).limited, false);
  const address = l.begin("agent", "10.0.0.7", "carol");
  assert.ok(address.limited && address.by === "address");
});
