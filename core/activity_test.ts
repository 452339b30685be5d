import assert from "node:assert/strict";
import { createActivityMonitor } from "./activity.ts";

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

Deno.test("the sweep holds 100,000 agents cheaply: it walks only the expired ones", () => {
  let now = 0;
  const reported: string[] = [];
  const monitor = createActivityMonitor({
    timeoutMs: 7000,
    sweepIntervalMs: 1_000_000,
    now: () => now,
    onInactive: (id) => reported.push(id),
  });
  try {
    for (let i = 0; i < 100_000; i++) monitor.ping(`agent-${i}`);
    now = 3000;
    for (let i = 50_000; i < 100_000; i++) monitor.ping(`agent-${i}`);
    assert.equal(monitor.activeAgents, 100_000);
    now = 7500;
    assert.equal(monitor.sweep(), 50_000);
    assert.equal(reported[0], "agent-0");
    assert.equal(monitor.sweep(), 0);
    assert.equal(monitor.activeAgents, 50_000);
  } finally {
    monitor.close();
  }
});
