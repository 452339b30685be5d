import assert from "node:assert/strict";
import { createBlockRing, cutString } from "./block_ring.ts";
import { type HeadLookup, MAX_SUPPORT_WALK } from "./branch_support.ts";

const body = (n: number, branch = "") => ({
  number: n,
  hash: `0x${n}${branch}`,
  parentHash: `0x${n - 1}${branch}`,
});

/**
 * A ring of blocks 1..`top` of one chain, one node's head on `top`, and how many head lookups
 * the ring made since (`lookups`, reset to 0 once it is built).
 */
function watchedRing(top: number) {
  const counted = { lookups: 0 };
  const heads: HeadLookup = {
    count: (n, hash) => (counted.lookups++, n === top && hash === `0x${top}` ? 1 : 0),
    atOrAbove: (n) => (counted.lookups++, n <= top ? 1 : 0),
    version: () => 1,
  };
  const ring = createBlockRing(top, heads);
  for (let n = 1; n <= top; n++) ring.add(body(n), "honest", n);
  counted.lookups = 0;
  return { ring, counted };
}

Deno.test("block ring: a node's history of other hashes on a live branch walks the ring up once per frame, not once per block", () => {
  const { ring: watched, counted } = watchedRing(2000);
  // A forked (or hostile) node's history: 50 blocks of its own branch, far below the head.
  for (let n = 1; n <= 50; n++) assert.equal(watched.add(body(n, "x"), "deviant", 3000), undefined);
  assert.ok(
    counted.lookups < 2 * 2000,
    `${counted.lookups} head lookups for 50 blocks (a walk of 2,000 each was 100,000)`,
  );
  assert.equal(watched.reorganised.replaced, 0);
});

Deno.test("block ring: new numbers between entries of other hashes far down (the support cache emptied each time) walk at most MAX_SUPPORT_WALK blocks each", () => {
  const { ring, counted } = watchedRing(20_000);
  for (let i = 0; i < 128; i++) {
    ring.add(body(20_001 + i, "x"), "agent", 3000); // a new number: inserted (the cache emptied)
    assert.equal(ring.add(body(i + 1, "x"), "agent", 3000), undefined); // another hash far down: kept as it is
  }
  // Before: each walked the whole ring (128 x 20,000 lookups; 400 ms a 256-entry frame).
  assert.ok(counted.lookups <= 128 * (MAX_SUPPORT_WALK + 1), `${counted.lookups} head lookups`);
  assert.equal(ring.reorganised.replaced, 0);
});

Deno.test("block ring: other hashes without the backing to pass the peak never count the nodes at or above their height", () => {
  let counted = 0;
  const heads: HeadLookup = {
    count: (n, hash) => (n === 100 && hash === "0x100" ? 3 : 0),
    atOrAbove: () => (counted++, 3),
    version: () => 1,
  };
  const ring = createBlockRing(200, heads);
  for (let n = 1; n <= 100; n++) ring.add(body(n), "honest", n);
  // Made-up blocks at kept numbers (a hostile history frame): no node's head, nothing to count.
  for (let n = 1; n <= 100; n++) assert.equal(ring.add(body(n, "x"), "evil", 200), undefined);
  assert.equal(counted, 0); // that count walks every height the nodes are at
});

Deno.test("cutString: lone surrogates become U+FFFD, pairs stay, a cut never splits a pair", () => {
  assert.equal(cutString("x\ud800y\udc00z"), "x\ufffdy\ufffdz");
  assert.equal(cutString("ok \ud83d\ude00"), "ok \ud83d\ude00");
  const cut = cutString("a" + "\ud83d\ude00".repeat(200));
  assert.ok(cut.isWellFormed());
  assert.ok(!cut.includes("\ufffd"));
});
