import assert from "node:assert/strict";
import { createFairShare } from "./fair_share.ts";

Deno.test("fair share: a newcomer takes the oldest place of the address holding the most, never evening out to take turns", () => {
  const share = createFairShare<string>();
  for (let i = 0; i < 3; i++) share.add("a", `a${i}`);
  share.add("b", "b0");
  assert.equal(share.victimFor("c"), "a0"); // c holds 0, a 3
  assert.equal(share.victimFor("b"), "a0"); // b holds 1, a 3
  share.remove("a0");
  share.add("b", "b1");
  // a 2, b 2: neither gives way to the other, a newcomer still gets one of a's.
  assert.equal(share.victimFor("a"), undefined);
  assert.equal(share.victimFor("b"), undefined);
  assert.equal(share.victimFor("c"), "a1");
});

Deno.test("fair share: removing is idempotent, and an address that holds nothing is forgotten", () => {
  const share = createFairShare<number>();
  assert.equal(share.victimFor("a"), undefined);
  share.add("a", 1);
  assert.equal(share.victimFor("b"), undefined); // one place: giving it up would only swap
  share.add("a", 2);
  share.remove(1);
  share.remove(1);
  share.remove(7);
  share.add("a", 3);
  assert.equal(share.victimFor("b"), 2);
  share.remove(2);
  share.remove(3);
  assert.equal(share.victimFor("b"), undefined);
});
