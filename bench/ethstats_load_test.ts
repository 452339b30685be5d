import assert from "node:assert/strict";
import { blockFrame, GETH_STATS, gethBlock, spread, statsFrame } from "./ethstats_load.ts";

Deno.test("ethstats load: prebuilt frames are the bytes JSON.stringify makes of geth's emit", () => {
  for (const [id, n] of [["geth-1", 20_000_001], ['odd "id" \\ é', 7], ["x", 0]] as const) {
    assert.equal(blockFrame(id, n), JSON.stringify({ emit: ["block", { id, block: gethBlock(n) }] }));
    // Served from the cache the second time: the same text.
    assert.equal(blockFrame(id, n), JSON.stringify({ emit: ["block", { id, block: gethBlock(n) }] }));
    assert.equal(statsFrame(id), JSON.stringify({ emit: ["stats", { id, stats: GETH_STATS }] }));
  }
});

Deno.test("ethstats load: spread reports every node once, at moments spread over the window", async () => {
  const nodes = Array.from({ length: 200 }, (_, i) => i);
  const at = new Map<number, number>();
  const start = performance.now();
  await spread(nodes, 300, (node) => at.set(node, performance.now() - start));
  assert.equal(at.size, 200);
  const times = [...at.values()];
  assert.ok(Math.max(...times) < 1000, `last report after ${Math.max(...times)} ms`);
  // Uniform over 300 ms: some early, some late, not all at once.
  assert.ok(
    times.filter((t) => t < 100).length > 20 && times.filter((t) => t >= 200).length > 20,
    `${times}`,
  );
});
