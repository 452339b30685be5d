import assert from "node:assert/strict";
import fc from "fast-check";
import { approxJsonBytes } from "./json_size.ts";

Deno.test("approxJsonBytes stays within a factor of the JSON text's length for ASCII values", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      const text = JSON.stringify(v);
      const est = approxJsonBytes(v);
      return est >= text.length / 4 && est <= text.length * 8 + 16;
    }),
    { numRuns: 1000 },
  );
  const block = {
    number: 1,
    transactions: Array.from({ length: 10_000 }, (_, i) => "0x" + String(i).padStart(64, "0")),
  };
  const text = JSON.stringify(block).length;
  assert.ok(Math.abs(approxJsonBytes(block) - text) / text < 0.1);
});

Deno.test("approxJsonBytes stops at the limit", () => {
  const huge = Array.from({ length: 1_000_000 }, () => "x".repeat(10));
  assert.equal(approxJsonBytes(huge, 1000), 1001);
  assert.equal(approxJsonBytes({ a: 1 }, 1000) <= 1000, true);
});

Deno.test("approxJsonBytes with a limit says 'over' exactly when the whole estimate is over it, and reads no element of an array that cannot fit", () => {
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), fc.integer({ min: 0, max: 2000 }), (v, limit) => {
      return (approxJsonBytes(v, limit) > limit) === (approxJsonBytes(v) > limit);
    }),
    { numRuns: 2000 },
  );
  let reads = 0;
  const zeros = new Proxy(new Array(1_000_000).fill(0), {
    get(target, key, receiver) {
      if (typeof key === "string" && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver);
    },
  });
  assert.equal(approxJsonBytes({ transactions: zeros }, 1_000_000), 1_000_001);
  assert.equal(reads, 0);
});
