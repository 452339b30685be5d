import assert from "node:assert/strict";
import type { QueueItem } from "./queue_item.ts";
import { openSpillStore, unopenedSpills } from "./spill.ts";
import { capturing } from "../tests/support/console.ts";
import { makeUnremovable, numberedItem } from "../tests/support/fixtures.ts";

const items = (...agents: string[]): QueueItem[] => agents.map((agentId) => ({ kind: "inactive", agentId }));
const agents = (segment: { items: QueueItem[] } | null) =>
  segment?.items.map((i) => i.kind === "inactive" ? i.agentId : "?") ?? null;

Deno.test("spill segments and their directory are private (0600, 0700): spilled reports carry addresses and users", async () => {
  const root = await Deno.makeTempDir();
  try {
    const store = await openSpillStore(`${root}/spill/eth_stats`);
    await store.append(items("a"));
    assert.equal(Deno.statSync(`${root}/spill/eth_stats`).mode! & 0o777, 0o700);
    for (const entry of Deno.readDirSync(`${root}/spill/eth_stats`)) {
      assert.equal(Deno.statSync(`${root}/spill/eth_stats/${entry.name}`).mode! & 0o777, 0o600, entry.name);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("spill segments are read oldest first with next(), appended ones after, prepended ones before", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await openSpillStore(dir);
    await store.append(items("a", "b"));
    await store.append(items("c"));
    const first = await store.oldest();
    assert.deepEqual(agents(first), ["a", "b"]);
    await store.append(items("d")); // while the first two are being replayed
    const second = await store.next(first!.name);
    assert.deepEqual(agents(second), ["c"]);
    assert.deepEqual(agents(await store.next(second!.name)), ["d"]);
    assert.equal(await store.next((await store.next(second!.name))!.name), null);
    await store.prepend(items("z"));
    assert.deepEqual(agents(await store.oldest()), ["z"]);
    assert.equal(store.pendingItems, 5);

    // Reopened (a restart): the same order, from the file names alone.
    const reopened = await openSpillStore(dir);
    const order: string[][] = [];
    for (let s = await reopened.oldest(); s; s = await reopened.next(s.name)) order.push(agents(s)!);
    assert.deepEqual(order, [["z"], ["a", "b"], ["c"], ["d"]]);
    assert.equal(reopened.segments, 4);

    // Bytes on disk: counted as written, found again on reopening, given back on removal.
    let onDisk = 0;
    for (const entry of Deno.readDirSync(dir)) onDisk += Deno.statSync(`${dir}/${entry.name}`).size;
    assert.ok(onDisk > 0);
    assert.equal(store.pendingBytes, onDisk);
    assert.equal(reopened.pendingBytes, onDisk);
    const oldest = (await reopened.oldest())!;
    const size = Deno.statSync(`${dir}/${oldest.name}`).size;
    await reopened.remove(oldest.name);
    assert.equal(reopened.pendingBytes, onDisk - size);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an append and a prepend in flight together on a store that had emptied keep their order, and no file is overwritten", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await openSpillStore(dir);
    const run = (from: number, n: number, pad = 0) =>
      Array.from({ length: n }, (_, i) => ({ ...numberedItem(from + i), pad: "x".repeat(pad) }) as QueueItem);
    // Earlier appends and a prepend, all replayed and removed since.
    for (let i = 0; i < 3; i++) await store.append(run(0, 1));
    await store.prepend(run(0, 1));
    for (const entry of [...Deno.readDirSync(dir)]) await store.remove(entry.name);
    // The queue's tail goes in front (small, written first) while the spill buffer's append of
    // newer items is in flight (large); then newer items still.
    await Promise.all([store.prepend(run(100, 10)), store.append(run(200, 1000, 3000))]);
    // Whichever finished first, the next prepend (older still) and appends (newer) keep their places.
    await store.prepend(run(50, 5));
    await store.append(run(1200, 10));
    for (let k = 0; k < 3; k++) await store.append(run(2000 + k * 1000, 1000));
    const firsts: string[] = [];
    let total = 0;
    for (let seg = await store.oldest(); seg; seg = await store.next(seg.name)) {
      firsts.push((seg.items[0] as { message: { id: string } }).message.id);
      total += seg.items.length;
    }
    // Before: m1200 was numbered below m200's segment, and a later 1000-item segment took m200's name.
    assert.deepEqual(firsts, ["m50", "m100", "m200", "m1200", "m2000", "m3000", "m4000"]);
    assert.equal(total, 5 + 10 + 1000 + 10 + 3000);
    assert.equal(store.pendingItems, total);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a segment that parses but holds something else than queue items is set aside, not delivered", async () => {
  const dir = await Deno.makeTempDir();
  const original = console.error;
  console.error = () => {};
  try {
    await Deno.writeTextFile(`${dir}/4000000000000000-3.json`, "[{},{},{}]");
    await Deno.writeTextFile(`${dir}/4000000000000001-1.json`, "[null]");
    const store = await openSpillStore(dir);
    await store.append([numberedItem(1)]);
    const seg = await store.oldest();
    assert.deepEqual(seg!.items.map((i) => i.kind === "message" && i.message.id), ["m1"]);
    assert.equal(store.corruptSegments, 2);
    assert.equal(store.corruptItems, 4);
  } finally {
    console.error = original;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spill directories no receiver opens are found with the items they hold", async () => {
  const root = await Deno.makeTempDir();
  try {
    assert.deepEqual(await unopenedSpills(`${root}/none`, []), []); // no spill dir yet
    const kept = await openSpillStore(`${root}/eth_stats`);
    await kept.append(items("a"));
    const gone = await openSpillStore(`${root}/old%20name`);
    await gone.append(items("a", "b"));
    await gone.append(items("c"));
    await openSpillStore(`${root}/empty`);
    assert.deepEqual(await unopenedSpills(root, ["eth_stats"]), [{ dir: `${root}/old%20name`, items: 3 }]);
    assert.deepEqual(await unopenedSpills(root, ["eth_stats", "old%20name"]), []);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("appends and prepends longer than a segment may be are several segments, read back in order", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Each item is ~40 characters of JSON: two to a segment of at most 100.
    const store = await openSpillStore(dir, { maxSegmentChars: 100 });
    await store.append(items("a", "b", "c", "d", "e"));
    await store.prepend(items("x", "y", "z"));
    await store.append(items("f"));
    assert.equal(store.pendingItems, 9);
    assert.ok(store.segments >= 5, `${store.segments} segments`);
    const read: string[] = [];
    for (let s = await store.oldest(); s; s = await store.next(s.name)) read.push(...agents(s)!);
    assert.deepEqual(read, ["x", "y", "z", "a", "b", "c", "d", "e", "f"]);
    // Opened again with the default bound: the same order.
    const again = await openSpillStore(dir);
    const reread: string[] = [];
    for (let s = await again.oldest(); s; s = await again.next(s.name)) reread.push(...agents(s)!);
    assert.deepEqual(reread, read);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a delivered segment whose file cannot be removed is not read again in this run; its removal is tried again", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await openSpillStore(dir);
    await store.append(items("a"));
    await store.append(items("b"));
    const first = (await store.oldest())!;
    await makeUnremovable(`${dir}/${first.name}`); // as a read-only directory would
    await assert.rejects(store.remove(first.name));
    // Before, it stayed indexed: oldest() gave it again, and a runner replayed it in a loop.
    assert.deepEqual(agents(await store.oldest()), ["b"]);
    assert.equal(store.pendingItems, 1);
    assert.equal(store.segments, 1);
    await assert.rejects(store.remove(first.name)); // called again: tried again
    // Once the directory takes removals again, the next removal takes it along.
    await Deno.remove(`${dir}/${first.name}/x`);
    const second = (await store.oldest())!;
    await store.remove(second.name);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await store.remove(first.name); // nothing left to do
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a spill directory removed while the service runs is created again by the next write", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = await openSpillStore(`${dir}/spill/r`);
    await Deno.remove(`${dir}/spill`, { recursive: true }); // an operator cleaning up
    const logged = await capturing("error", async (lines) => {
      await store.append(items("a")); // before: NotFound on every write for the rest of the run
      return lines;
    });
    assert.match(logged.join("\n"), /the directory was gone; creating it again/);
    assert.deepEqual(agents(await store.oldest()), ["a"]);
    assert.equal([...Deno.readDirSync(`${dir}/spill/r`)].length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
