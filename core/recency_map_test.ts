import assert from "node:assert/strict";
import { RecencyMap } from "./recency_map.ts";

Deno.test("recency map: oldest first; set and touch make a key the newest; delete unlinks it", () => {
  const m = new RecencyMap<string, number>();
  assert.equal(m.oldestKey(), undefined);
  m.set("a", 1).set("b", 2).set("c", 3);
  assert.deepEqual([...m.keys()], ["a", "b", "c"]);
  assert.equal(m.touch("a"), 1);
  assert.deepEqual([...m.keys()], ["b", "c", "a"]);
  m.set("b", 20); // an update is a use
  assert.deepEqual([...m], [["c", 3], ["a", 1], ["b", 20]]);
  assert.equal(m.get("c"), 3); // a plain read is not
  assert.equal(m.oldestKey(), "c");
  assert.equal(m.touch("zz"), undefined);
  assert.equal(m.size, 3);
  assert.equal(m.delete("a"), true);
  assert.equal(m.delete("a"), false);
  assert.deepEqual([...m.values()], [3, 20]);
  assert.equal(m.delete("c"), true);
  assert.equal(m.delete("b"), true);
  assert.equal(m.size, 0);
  assert.equal(m.oldestKey(), undefined);
  m.set("d", 4);
  assert.deepEqual([...m.entries()], [["d", 4]]);
  assert.equal(m.touch("d"), 4); // already the newest
  assert.deepEqual([...m.keys()], ["d"]);
});

Deno.test("recency map: iterating while deleting, adding or touching visits what was there, minus what is gone", () => {
  const m = new RecencyMap<string, number>();
  for (const k of ["a", "b", "c", "d"]) m.set(k, k.charCodeAt(0));
  const seen: string[] = [];
  for (const key of m.keys()) {
    seen.push(key);
    if (key === "a") {
      m.delete("b"); // not reached any more
      m.touch("c"); // visited once, where it was
      m.set("e", 0); // added during the walk: not visited
    }
  }
  assert.deepEqual(seen, ["a", "c", "d"]);
  assert.deepEqual([...m.keys()], ["a", "d", "c", "e"]);
});

Deno.test("recency map: the same order as a Map refreshed by delete + set, over random operations", () => {
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const m = new RecencyMap<number, number>();
  const reference = new Map<number, number>();
  for (let i = 0; i < 20_000; i++) {
    const key = random(50);
    switch (random(4)) {
      case 0:
        m.set(key, i);
        reference.delete(key);
        reference.set(key, i);
        break;
      case 1: {
        const had = reference.get(key);
        assert.equal(m.touch(key), had);
        if (had !== undefined) {
          reference.delete(key);
          reference.set(key, had);
        }
        break;
      }
      case 2:
        assert.equal(m.delete(key), reference.delete(key));
        break;
      default:
        assert.equal(m.get(key), reference.get(key));
    }
    assert.equal(m.size, reference.size);
    assert.equal(m.oldestKey(), reference.keys().next().value);
    if (i % 500 === 0) assert.deepEqual([...m], [...reference]);
  }
  assert.deepEqual([...m], [...reference]);
});
