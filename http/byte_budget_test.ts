import assert from "node:assert/strict";
import { AppError } from "./errors.ts";
import { readLimited } from "./body.ts";
import { createByteBudget } from "./byte_budget.ts";

Deno.test("body budget: per user and in all; what is given back can be taken again", () => {
  const budget = createByteBudget({ perKeyBytes: 100, totalBytes: 150 });
  assert.equal(budget.reserve("a", 60), true);
  assert.equal(budget.reserve("a", 50), false); // a's 100
  assert.equal(budget.reserve("b", 80), true);
  assert.equal(budget.reserve("c", 20), false); // 150 in all
  assert.deepEqual(budget.stats(), { bytes: 140, refused: 2 });
  budget.release("a", 60);
  assert.equal(budget.reserve("a", 100), false); // 80 + 100 > 150
  assert.equal(budget.reserve("c", 70), true);
  budget.release("b", 80);
  budget.release("c", 70);
  assert.equal(budget.stats().bytes, 0);
});

/** A POST whose body comes as a stream without Content-Length (chunked), in `chunks` pieces. */
function chunked(chunks: number, size: number): Request {
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent === chunks) {
        controller.close();
        return;
      }
      sent++;
      controller.enqueue(new Uint8Array(size).fill(0x20));
    },
  });
  return new Request("http://x/data", { method: "POST", body });
}

Deno.test("a chunked body reserves what its buffer holds as it grows: past the budget 503, and all is given back", async () => {
  const budget = createByteBudget({ perKeyBytes: 40_000, totalBytes: 100_000 });
  const bytes = await readLimited(chunked(3, 3000), { limit: 50_000, budget, user: "a" });
  assert.equal(bytes.byteLength, 9000);
  assert.equal(budget.stats().bytes, 0);
  // 48,000 bytes: the buffer goes 16 KiB, 36,000, then 50,000 (the limit), past the user's 40,000.
  await assert.rejects(
    readLimited(chunked(8, 6000), { limit: 50_000, budget, user: "a" }),
    (err) => err instanceof AppError && err.status === 503 && err.headers?.["retry-after"] === "1",
  );
  assert.equal(budget.stats().bytes, 0);
  // Another user's bytes in flight do not count against this one's.
  assert.equal(budget.reserve("b", 40_000), true);
  assert.equal((await readLimited(chunked(3, 3000), { limit: 50_000, budget, user: "a" })).byteLength, 9000);
});

Deno.test("byte budget: a size that is not a count (NaN, negative, fractional) is refused and leaves the counts as they were", () => {
  const budget = createByteBudget({ perKeyBytes: 100, totalBytes: 100 });
  for (const bytes of [NaN, -5, 1.5, Infinity]) assert.equal(budget.reserve("a", bytes), false);
  assert.equal(budget.reserve("a", 100), true);
  assert.equal(budget.reserve("b", 1), false); // the bound still holds
  assert.equal(budget.stats().bytes, 100);
});
