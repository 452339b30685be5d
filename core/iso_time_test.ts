import assert from "node:assert/strict";
import fc from "fast-check";
import { createIsoClock } from "./iso_time.ts";

/** The reference: a Date's ISO text where its year is 1–9999, else null. */
function reference(ms: number): string | null {
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < 1 || year > 9999 ? null : date.toISOString();
}

Deno.test("createIsoClock gives what new Date(ms).toISOString() gives, or null outside years 1-9999", () => {
  const iso = createIsoClock();
  // deno-fmt-ignore
  const edges = [
    0, -0, 1, -1, 999, 1000, -999, -1000, -1001, 0.5, -0.5, 1.999, -1.999, 1_765_065_600_123,
    Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 999) + 1,
    new Date("0001-01-01T00:00:00.000Z").getTime(), new Date("0001-01-01T00:00:00.000Z").getTime() - 1,
    8.64e15, 8.64e15 + 1, -8.64e15, NaN, Infinity, -Infinity,
  ];
  for (const ms of edges) assert.equal(iso(ms), reference(ms), String(ms));
  // Times one after the other in the same second, then across seconds, reuse the cached prefix.
  const start = 1_765_065_599_990;
  for (let ms = start; ms < start + 30; ms++) assert.equal(iso(ms), reference(ms), String(ms));
  fc.assert(
    fc.property(fc.double({ min: -1e16, max: 1e16, noNaN: true }), (ms) => iso(ms) === reference(ms)),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(
      fc.integer({ min: -62_200_000_000_000, max: 253_500_000_000_000 }),
      (ms) => iso(ms) === reference(ms),
    ),
    { numRuns: 5000 },
  );
});
