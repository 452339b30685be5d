import assert from "node:assert/strict";
import { createActivityMonitor } from "./activity.ts";

/** A monitor on a clock the test sets (`clock.now`), swept only when the test says, recording reports. */
function manualMonitor(timeoutMs: number, start = 0) {
  const clock = { now: start };
  const reported: string[] = [];
  const monitor = createActivityMonitor({
    timeoutMs,
    sweepIntervalMs: 1_000_000,
    now: () => clock.now,
    onInactive: (id) => reported.push(id),
  });
  return { clock, reported, monitor };
}

Deno.test("an agent that stops pinging is reported inactive once; pings keep it active", async () => {
  const reported: string[] = [];
  const monitor = createActivityMonitor({
    timeoutMs: 100,
    sweepIntervalMs: 10,
    onInactive: (id) => reported.push(id),
  });
  try {
    monitor.ping("a");
    monitor.ping("b");
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 30));
      monitor.ping("b");
    }
    assert.deepEqual(reported, ["a"]);
    assert.equal(monitor.activeAgents, 1);
    assert.equal(monitor.knownAgents, 2);
  } finally {
    monitor.close();
  }
});

Deno.test("bye reports at once and only once", () => {
  const reported: string[] = [];
  const monitor = createActivityMonitor({ timeoutMs: 10_000, onInactive: (id) => reported.push(id) });
  try {
    monitor.ping("a");
    monitor.bye("a");
    monitor.bye("a");
    monitor.bye("never-pinged");
    assert.deepEqual(reported, ["a", "never-pinged"]);
  } finally {
    monitor.close();
  }
});

Deno.test("the sweep holds 100,000 agents cheaply: it walks only the time slots past the deadline", () => {
  const { clock, reported, monitor } = manualMonitor(7000);
  try {
    for (let i = 0; i < 100_000; i++) monitor.ping(`agent-${i}`);
    clock.now = 3000;
    for (let i = 50_000; i < 100_000; i++) monitor.ping(`agent-${i}`);
    assert.equal(monitor.activeAgents, 100_000);
    clock.now = 7500;
    assert.equal(monitor.sweep(), 50_000);
    assert.equal(reported[0], "agent-0");
    assert.equal(monitor.sweep(), 0);
    assert.equal(monitor.activeAgents, 50_000);
  } finally {
    monitor.close();
  }
});

Deno.test("the sweep reports exactly what a plain scan of every last ping would (random pings, byes, sweeps)", () => {
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let round = 0; round < 20; round++) {
    const timeoutMs = 50 + Math.floor(random() * 500);
    const { clock, reported, monitor } = manualMonitor(timeoutMs, 1_000_000 + Math.floor(random() * 1000));
    // The model: the last ping of every active agent, scanned whole.
    const last = new Map<string, number>();
    const known = new Set<string>();
    try {
      for (let step = 0; step < 3000; step++) {
        clock.now += Math.floor(random() * random() * timeoutMs / 4);
        const agent = `a${Math.floor(random() * 60)}`;
        const action = random();
        if (action < 0.75) {
          monitor.ping(agent);
          last.set(agent, clock.now);
          known.add(agent);
        } else if (action < 0.8) {
          reported.length = 0;
          monitor.bye(agent);
          const expected = last.delete(agent) || !known.has(agent) ? [agent] : [];
          known.add(agent);
          assert.deepEqual(reported, expected, `bye ${agent} at step ${step}`);
        } else {
          reported.length = 0;
          const count = monitor.sweep();
          const expected = [...last].filter(([, at]) => at <= clock.now - timeoutMs).map(([id]) => id);
          for (const id of expected) last.delete(id);
          assert.deepEqual([...reported].sort(), expected.sort(), `sweep at step ${step}`);
          assert.equal(count, expected.length);
        }
        assert.equal(monitor.activeAgents, last.size);
      }
    } finally {
      monitor.close();
    }
  }
});

Deno.test("a clock that goes back never makes an agent inactive early; it is still reported", () => {
  const { clock, reported, monitor } = manualMonitor(1000, 10_000);
  try {
    monitor.ping("a");
    clock.now = 8_000; // the clock steps back 2 s
    monitor.ping("b");
    clock.now = 9_500;
    assert.equal(monitor.sweep(), 0);
    clock.now = 10_999;
    assert.equal(monitor.sweep(), 0, "a pinged at 10,000: not before 11,000");
    clock.now = 11_000;
    monitor.sweep();
    clock.now = 12_000;
    monitor.sweep();
    assert.deepEqual(reported.sort(), ["a", "b"]);
    assert.equal(monitor.activeAgents, 0);
  } finally {
    monitor.close();
  }
});

Deno.test("agents long gone are forgotten: 200,000 one-off ids leave at most maxRemembered behind", () => {
  const clock = { now: 0 };
  const reported: string[] = [];
  const monitor = createActivityMonitor({
    timeoutMs: 1000,
    sweepIntervalMs: 1_000_000,
    forgetAfterMs: 60_000,
    maxRemembered: 1000,
    now: () => clock.now,
    onInactive: (id) => reported.push(id),
  });
  try {
    for (let i = 0; i < 200_000; i++) {
      monitor.ping(`agent-${i}`);
      if (i % 10_000 === 9_999) {
        clock.now += 2000;
        monitor.sweep();
      }
    }
    clock.now += 2000;
    monitor.sweep();
    monitor.sweep();
    assert.equal(reported.length, 200_000);
    assert.ok(monitor.knownAgents <= 1000, `${monitor.knownAgents}`);
    // a bye from a remembered agent is not reported twice; a forgotten one is reported (once)
    monitor.bye("agent-199999");
    assert.equal(reported.length, 200_000);
    clock.now += 61_000;
    monitor.sweep();
    assert.equal(monitor.knownAgents, 0);
    monitor.bye("agent-199999");
    assert.equal(reported.length, 200_001);
  } finally {
    monitor.close();
  }
});
