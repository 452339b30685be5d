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
