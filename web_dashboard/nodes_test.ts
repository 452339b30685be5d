import assert from "node:assert/strict";
import { createHeadIndex } from "./chain.ts";
import { createNodeTable } from "./nodes.ts";

function tableAt(clock: { now: number }, maxNodes = 10) {
  const heads = createHeadIndex();
  const warnings: string[] = [];
  const table = createNodeTable({
    maxNodes,
    removeInactiveAfterMs: 60_000,
    warn: (line) => warnings.push(line),
    now: () => clock.now,
  }, heads);
  return { table, heads, warnings };
}

Deno.test("node table: past maxNodes the node heard from least recently is forgotten, warned once", () => {
  const { table, warnings } = tableAt({ now: 0 }, 3);
  for (const id of ["a", "b", "c"]) table.touch(id, 1);
  table.touch("a", 2); // now b is the least recently heard from
  table.touch("d", 3);
  table.touch("e", 4);
  assert.deepEqual([...table.values()].map((n) => n.id), ["a", "d", "e"]);
  assert.equal(table.counters.nodes_evicted, 2);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /maxNodes/);
  assert.deepEqual(table.takeChanges().removed.sort(), ["b", "c"]);
});

Deno.test("node table: an inactive node leaves the heads at once and the table after removeInactiveAfterMs", () => {
  const clock = { now: 1_000 };
  const { table, heads } = tableAt(clock);
  const node = table.touch("a", 1_000);
  const block = { number: 5, hash: "0x5" };
  node.last.block = block;
  heads.set("a", block);
  assert.equal(heads.count(5, "0x5"), 1);
  table.inactive("a");
  assert.equal(heads.count(5, "0x5"), 0);
  assert.equal(table.get("a")?.inactiveSince, 1_000);
  clock.now = 60_999;
  assert.equal(table.sweep(), 0);
  clock.now = 61_000;
  assert.equal(table.sweep(), 1);
  assert.equal(table.get("a"), undefined);
  assert.equal(table.counters.nodes_removed, 1);
});

Deno.test("node table: a node back from inactive has its last block as its head again, and is not swept", () => {
  const clock = { now: 1_000 };
  const { table, heads } = tableAt(clock);
  const node = table.touch("a", 1_000);
  node.last.block = { number: 7, hash: "0x7" };
  table.inactive("a");
  assert.equal(heads.count(7, "0x7"), 0);
  const back = table.touch("a", 2_000);
  assert.equal(back, node);
  assert.equal(back.active, true);
  assert.equal(back.inactiveSince, null);
  assert.equal(heads.count(7, "0x7"), 1);
  clock.now = 500_000;
  assert.equal(table.sweep(), 0);
});

Deno.test("node table: changes list each node once, in the order of its first change, with its changed reports; a new node is 'all'", () => {
  const { table } = tableAt({ now: 0 });
  const a = table.touch("a", 1);
  table.changed(a, "statistics");
  assert.deepEqual(table.takeChanges().nodes.map((c) => [c.node.id, c.reports]), [["a", "all"]]);
  table.touch("b", 2);
  table.changed(a, "block");
  table.changed(a, "latency");
  table.changed(a, "block");
  table.changed(a); // a figure or flag of its own: listed, no report
  const { nodes, removed } = table.takeChanges();
  assert.deepEqual(nodes.map((c) => [c.node.id, c.reports]), [["b", "all"], ["a", ["block", "latency"]]]);
  assert.deepEqual(removed, []);
  assert.deepEqual(table.takeChanges(), { nodes: [], removed: [] });
  table.changed(a, "pending");
  table.discardChanges();
  assert.deepEqual(table.takeChanges(), { nodes: [], removed: [] });
});

Deno.test("node table: a node forgotten and back before the take is a new node, not a removed one", () => {
  const clock = { now: 0 };
  const { table } = tableAt(clock);
  table.touch("a", 0);
  table.takeChanges();
  table.inactive("a");
  clock.now = 60_000;
  table.sweep();
  const again = table.touch("a", 60_001);
  assert.equal(again.firstSeen, 60_001);
  const { nodes, removed } = table.takeChanges();
  assert.deepEqual(removed, []);
  assert.deepEqual(nodes.map((c) => [c.node.id, c.reports]), [["a", "all"]]);
});
