import assert from "node:assert/strict";
import { blockFrame, GETH_STATS, gethBlock, statsFrame } from "./ethstats_load.ts";

Deno.test("ethstats load: prebuilt frames are the bytes JSON.stringify makes of geth's emit", () => {
  for (const [id, n] of [["geth-1", 20_000_001], ['odd "id" \\ é', 7], ["x", 0]] as const) {
    assert.equal(blockFrame(id, n), JSON.stringify({ emit: ["block", { id, block: gethBlock(n) }] }));
    // Served from the cache the second time: the same text.
    assert.equal(blockFrame(id, n), JSON.stringify({ emit: ["block", { id, block: gethBlock(n) }] }));
    assert.equal(statsFrame(id), JSON.stringify({ emit: ["stats", { id, stats: GETH_STATS }] }));
  }
});
