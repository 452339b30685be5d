import assert from "node:assert/strict";
import type { QueueItem } from "./queue_item.ts";
import { openSpillStore } from "./spill.ts";

const items = (...agents: string[]): QueueItem[] => agents.map((agentId) => ({ kind: "inactive", agentId }));
const agents = (segment: { items: QueueItem[] } | null) =>
  segment?.items.map((i) => i.kind === "inactive" ? i.agentId : "?") ?? null;

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
