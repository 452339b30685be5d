import assert from "node:assert/strict";
import { BoundedMap } from "./bounded_map.ts";

Deno.test("BoundedMap holds at most max entries and keeps the max/2 most recently used", () => {
  const map = new BoundedMap<number, number>(100);
  for (let i = 0; i < 1000; i++) {
    map.set(i, i * 2);
    assert.ok(map.size <= 100, `size ${map.size}`);
    for (let back = 0; back < 50 && back <= i; back++) assert.equal(map.get(i - back), (i - back) * 2);
  }
  assert.equal(map.get(0), undefined);
  assert.equal(map.has(500), false);
});

Deno.test("BoundedMap: a used entry outlives entries set after it but not used since", () => {
  const map = new BoundedMap<string, number>(10);
  map.set("hot", 1);
  for (let i = 0; i < 100; i++) {
    map.set(`cold-${i}`, i);
    assert.equal(map.get("hot"), 1, `lost after ${i}`);
  }
  assert.equal(map.has("cold-0"), false);
});

Deno.test("BoundedMap: set replaces, delete removes from either generation, iteration sees all", () => {
  const map = new BoundedMap<string, number>(6);
  map.set("a", 1).set("b", 2).set("c", 3); // the older generation now
  map.set("a", 10); // moved to the newer
  assert.equal(map.get("a"), 10);
  assert.equal(map.delete("b"), true);
  assert.equal(map.delete("b"), false);
  assert.deepEqual(new Map(map), new Map([["a", 10], ["c", 3]]));
  map.set("u", undefined as unknown as number);
  assert.equal(map.has("u"), true);
  assert.equal(map.get("u"), undefined);
});
