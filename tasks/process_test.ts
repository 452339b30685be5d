import assert from "node:assert/strict";
import { startLocalCluster } from "./cluster.ts";
import { bootId, managedProcess, procStat, stopOrphans } from "./process.ts";

const alive = (pid: number, started: string) => procStat(pid)?.started === started;

Deno.test("stopOrphans stops what an earlier runner left running (same pid, start time and boot), and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "orphans-" });
  try {
    const lines: string[] = [];
    // A child of a runner that was then killed with SIGKILL: it runs on, its pid recorded.
    const left = managedProcess(
      "nats-1",
      { cmd: "sleep", args: ["60"], env: {} },
      () => Promise.resolve(true),
      {
        log: () => {},
        supervise: false,
        pidDir: dir,
      },
    );
    await left.start();
    const pid = left.pid!;
    const started = procStat(pid)!.started;
    // A record whose pid is now another process's (this one, started at another time): not touched.
    await Deno.writeTextFile(`${dir}/instance-1.pid`, `${Deno.pid} 1\n`);
    // The same pid and start time, recorded in another boot of the machine: not touched either.
    const mine = procStat(Deno.pid)!.started;
    await Deno.writeTextFile(
      `${dir}/instance-2.pid`,
      `${Deno.pid} ${mine} 00000000-0000-0000-0000-000000000000\n`,
    );
    assert.notEqual(bootId(), "");
    assert.equal(await Deno.readTextFile(`${dir}/nats-1.pid`), `${pid} ${started} ${bootId()}\n`);
    assert.equal(await stopOrphans(dir, (line) => lines.push(line), 5000), 1);
    for (let i = 0; i < 100 && alive(pid, started); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid, started), false, "the orphan still runs");
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /nats-1 \(pid \d+\) is still running from an earlier run/);
    assert.deepEqual([...Deno.readDirSync(dir)], []); // the records are gone
    await left.kill();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second cluster runner on a directory in use is refused before it starts anything", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runner-lock-" });
  const held = await Deno.open(`${dir}/runner.lock`, { read: true, write: true, create: true });
  try {
    await held.lock(true); // the first runner
    await assert.rejects(startLocalCluster({ dir, log: () => {} }), /in use by a running cluster runner/);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["runner.lock"]);
  } finally {
    held.close();
    await Deno.remove(dir, { recursive: true });
  }
});
