import assert from "node:assert/strict";
import { createBlockRing } from "./block_ring.ts";
import { createChainReset } from "./chain_reset.ts";

Deno.test("chain reset: blocks more than maxBlocks above the best go only after resetAfterMs, told once to each taker", () => {
  const ring = createBlockRing(10);
  for (let n = 1000; n < 1010; n++) ring.add({ number: n, hash: `0x${n}` }, "old", 0);
  const reset = createChainReset(10, 1000);
  assert.equal(reset.check(ring, 5, 0), 0); // far above since 0
  assert.equal(reset.check(ring, 5, 999), 0);
  assert.equal(reset.check(ring, 1009, 1500), 0); // the best came back up: the wait starts over
  assert.equal(reset.check(ring, 5, 2000), 0);
  assert.equal(reset.check(ring, 5, 3000), 10);
  assert.equal(ring.size, 0);
  assert.equal(reset.takeForPages(), 15);
  assert.equal(reset.takeForPages(), null);
  assert.equal(reset.takeForStore(), 15);
  assert.equal(reset.takeForStore(), null);
  assert.equal(reset.check(ring, null, 4000), 0); // nothing to judge by
});
