import assert from "node:assert/strict";
import { createSharedBlocks, sameJson, shareBlockPayload } from "./shared_blocks.ts";

/** A block as JSON.parse would hand it over: a fresh object graph per report. */
function report(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return JSON.parse(JSON.stringify({
    number: n,
    hash: `0x${n.toString(16).padStart(64, "0")}`,
    gasUsed: 21_000,
    transactions: [{ hash: "0xaa" }, { hash: "0xbb" }],
    uncles: [],
    ...extra,
  }));
}

Deno.test("sameJson compares decoded values deeply, arrays in order", () => {
  assert.equal(sameJson({ a: [1, { b: "x" }], c: null }, { c: null, a: [1, { b: "x" }] }), true);
  assert.equal(sameJson({ a: [1, 2] }, { a: [2, 1] }), false);
  assert.equal(sameJson({ a: 1 }, { a: 1, b: undefined }), false);
  assert.equal(sameJson({ a: undefined }, { b: undefined }), false);
  assert.equal(sameJson({ a: 1 }, { a: "1" }), false);
  assert.equal(sameJson([], {}), false);
  assert.equal(sameJson({ 0: "x" }, ["x"]), false);
  assert.equal(sameJson(null, {}), false);
  assert.equal(sameJson("0x1", "0x1"), true);
  // msgpack may decode a timestamp to a Date and bin to bytes: never equal by their (no) keys.
  assert.equal(sameJson({ t: new Date(1) }, { t: new Date(2) }), false);
  assert.equal(sameJson({ b: new Uint8Array([1]) }, { b: new Uint8Array([1]) }), false);
  assert.equal(sameJson(Object.create(null), {}), false);
});

Deno.test("an agent block payload gets the kept body; other payloads pass as they are", () => {
  const blocks = createSharedBlocks();
  const first = { type: "block", body: report(3) };
  assert.equal(shareBlockPayload(blocks, first), first);
  const again = shareBlockPayload(blocks, { type: "block", body: report(3), extra: 1 });
  assert.deepEqual(again, { type: "block", body: first.body, extra: 1 });
  assert.equal(again["body"], first.body);
  const statistics = { type: "statistics", body: { hash: first.body["hash"] } };
  assert.equal(shareBlockPayload(blocks, statistics), statistics);
  const odd = { type: "block", body: [report(3)] };
  assert.equal(shareBlockPayload(blocks, odd), odd);
  assert.equal(blocks.stats().shared, 1);
});

Deno.test("equal reports of one block share the first copy", () => {
  const blocks = createSharedBlocks();
  const first = report(7);
  const second = report(7);
  assert.notEqual(first, second);
  assert.equal(blocks.share(first), first);
  assert.equal(blocks.share(second), first);
  assert.equal(blocks.share(report(8)) === first, false);
  assert.deepEqual(blocks.stats(), { shared: 1, kept: 2 });
});

Deno.test("a report that differs from the kept block of its hash is passed on as it came, and kept", () => {
  const blocks = createSharedBlocks();
  const kept = blocks.share(report(7));
  const other = report(7, { gasUsed: 42_000 });
  assert.equal(blocks.share(other), other);
  assert.equal(blocks.share(report(7, { gasUsed: 42_000 })), other);
  assert.equal(blocks.share(report(7)) === kept, false);
});

Deno.test("a report without a string hash is never shared", () => {
  const blocks = createSharedBlocks();
  const a = { number: 1 };
  const b = { number: 1 };
  assert.equal(blocks.share(a), a);
  assert.equal(blocks.share(b), b);
  assert.deepEqual(blocks.stats(), { shared: 0, kept: 0 });
});

Deno.test("the store keeps at most its capacity, dropping the least recently reported block", () => {
  const blocks = createSharedBlocks(2);
  const one = blocks.share(report(1));
  blocks.share(report(2));
  assert.equal(blocks.share(report(1)), one); // 1 is now the most recent
  blocks.share(report(3)); // drops 2
  assert.equal(blocks.share(report(1)), one);
  const two = report(2);
  assert.equal(blocks.share(two), two);
  assert.equal(blocks.stats().kept, 2);
});

Deno.test("a block larger than maxBlockBytes is passed on but never kept: the store stays bounded in bytes", () => {
  const blocks = createSharedBlocks(4, 1024);
  const big = {
    hash: "0xbig",
    transactions: Array.from({ length: 100 }, (_, i) => `0x${i}`.padEnd(66, "0")),
  };
  assert.equal(blocks.share(big), big);
  const again = { ...big };
  assert.equal(blocks.share(again), again); // not shared: the first was never kept
  assert.deepEqual(blocks.stats(), { shared: 0, kept: 0 });
  const small = { hash: "0xsmall", number: 1 };
  blocks.share(small);
  assert.equal(blocks.share({ ...small }), small);
});
