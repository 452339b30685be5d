import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import {
  block,
  information,
  latency,
  pending,
  reportMessage,
  statisticsSyncing,
  systemStatistics,
} from "../tests/support/fixtures.ts";
import { MAX_STRING, toSafeInteger } from "./block_ring.ts";
import { createWebState, MAX_HISTORY_ENTRIES, type WebState } from "./state.ts";

function message(
  agentId: string,
  data: Record<string, unknown>,
  receivedAt = 1000,
  dataType = "ethereum_metrics",
): Message {
  return reportMessage(agentId, data, { receivedAt, dataType });
}

function blockData(number: number, extra: Record<string, unknown> = {}) {
  return {
    type: "block",
    body: { ...block.body, number, hash: `0x${number}`, timestamp: 1000 + number * 5, ...extra },
  };
}

function options(extra: Partial<Parameters<typeof createWebState>[0]> = {}) {
  return { maxNodes: 100, maxBlocks: 10, removeInactiveAfterMs: 60_000, ...extra };
}

Deno.test("web state keeps the last report of each type per node, system statistics apart from ethereum ones", () => {
  const state = createWebState(options());
  for (const data of [information, statisticsSyncing, block, pending, latency]) {
    state.apply(message("n1", data, 2000));
  }
  state.apply(message("n1", systemStatistics, 2500, "system_metrics"));
  const node = state.node("n1")!;
  assert.equal(node.active, true);
  assert.equal(node.firstSeen, 2000);
  assert.equal(node.lastSeen, 2500);
  assert.equal(node.blockReceivedAt, 2000);
  assert.deepEqual(node.last.information, information.body);
  assert.deepEqual(node.last.statistics, statisticsSyncing.body);
  assert.deepEqual(node.last.pending, { pending: 7 });
  assert.deepEqual(node.last.latency, { latency: 12 });
  assert.deepEqual(node.last.system, systemStatistics.body);
  // The block without its transaction and uncle lists, counted instead.
  assert.equal(node.last.block!["number"], block.body.number);
  assert.equal(node.last.block!["transactionCount"], 1);
  assert.equal(node.last.block!["uncleCount"], 0);
  assert.equal("transactions" in node.last.block!, false);
});

Deno.test("nodes that report one shared block body share its summary; another body gets its own", () => {
  const state = createWebState(options());
  const shared = blockData(9);
  state.apply(message("n1", shared));
  state.apply(message("n2", { type: "block", body: shared.body }));
  state.apply(message("n3", blockData(9)));
  const summary = state.node("n1")!.last.block!;
  assert.equal(state.node("n2")!.last.block, summary);
  assert.notEqual(state.node("n3")!.last.block, summary);
  assert.deepEqual(state.node("n3")!.last.block, summary);
  assert.equal(summary["number"], 9);
  assert.equal(summary["transactionCount"], 1);
});

Deno.test("web state keeps only known scalar fields and bounds strings, so a report cannot grow memory", () => {
  const state = createWebState(options());
  state.apply(message("n1", {
    type: "information",
    body: { name: "x".repeat(10_000), extra: "y".repeat(10_000), port: { nested: true }, net: Infinity },
  }));
  state.apply(message("n1", { type: "history", body: { history: [block.body] } }));
  state.apply(
    message("n1", { type: "statistics", body: { peers: 3, syncing: { currentBlock: "0x1", junk: "z" } } }),
  );
  const node = state.node("n1")!;
  assert.deepEqual(node.last.information, { name: "x".repeat(MAX_STRING) });
  // Never between the halves of a character (was "a" + 127 emoji + a lone \ud83d).
  state.apply(message("n1", { type: "information", body: { name: "a" + "😀".repeat(200) } }));
  assert.equal(state.node("n1")!.last.information!["name"], "a" + "😀".repeat(127));
  assert.deepEqual(node.last.statistics, { peers: 3, syncing: { currentBlock: "0x1" } });
  // Unknown payload types and bodies that are not objects change nothing.
  state.apply(message("n2", { type: "history", body: {} }));
  state.apply(message("n3", { type: "statistics", body: "not an object" }));
  state.apply(message("n4", { type: "block_new_payload", body: {} }));
  assert.equal(state.size, 1);
});

Deno.test("recent blocks: one entry per number, highest numbers kept, reports counted", () => {
  const state = createWebState(options({ maxBlocks: 3 }));
  for (const n of [10, 11, 12, 13, 14]) state.apply(message(`n${n % 2}`, blockData(n), n));
  state.apply(message("late", blockData(9), 99)); // older than the ring: ignored
  // Another hash at a number whose block is an active node's head: not kept, not counted.
  state.apply(message("n9", blockData(14, { hash: "0xother" }), 100));
  state.apply(message("n7", blockData(14), 101)); // the same block: counted
  assert.deepEqual(state.blocks().map((b) => b.number), [14, 13, 12]);
  const top = state.blocks(1)[0]!;
  assert.equal(top.reports, 2);
  assert.equal(top.hash, "0x14");
  assert.equal(top.firstSeenBy, "n0");
  assert.equal(top.firstSeen, 14);
  assert.equal(top.transactionCount, 1);
  assert.equal(top.timestamp, 1070);
  // Hex and decimal-string numbers count too; garbage does not enter the ring.
  state.apply(message("hex", blockData(0, { number: "0x10" })));
  state.apply(message("bad", blockData(0, { number: "sixteen" })));
  assert.deepEqual(state.blocks().map((b) => b.number), [16, 14, 13]);
});

Deno.test("recent blocks: blocks that arrive only in history replies fill the ring", () => {
  const state = createWebState(options({ maxBlocks: 5 }));
  state.apply(message("geth", blockData(20), 1));
  const history = { type: "history", body: { history: [19, 18, 17].map((n) => blockData(n).body) } };
  state.apply(message("geth", history, 2));
  state.apply(message("geth", { type: "history", body: { history: [null, "x", blockData(16).body] } }, 3));
  assert.deepEqual(state.blocks().map((b) => b.number), [20, 19, 18, 17, 16]);
  assert.equal(state.blocks(2)[1]!.firstSeen, 2);
  // the node's own last block is still the one it reported as its head
  assert.equal(state.node("geth")!.last.block!["number"], 20);
});

Deno.test("a history report of 100,000 blocks into a full ring: its first MAX_HISTORY_ENTRIES are taken, the ring stays ordered", () => {
  const state = createWebState(options({ maxBlocks: 2000 }));
  for (let n = 1; n <= 2000; n++) state.apply(message("geth", blockData(n), n));
  const entries = Array.from({ length: 100_000 }, (_, i) => blockData(10_000 + i).body);
  // Its own head far above (history is of blocks at or below the reporter's head).
  state.apply(message("flood", blockData(110_000), 2999));
  const started = performance.now();
  state.apply(message("flood", { type: "history", body: { history: entries } }, 3000));
  const ms = performance.now() - started;
  const numbers = state.blocks().map((b) => b.number);
  assert.equal(numbers.length, 2000);
  assert.equal(numbers[0], 10_000 + MAX_HISTORY_ENTRIES - 1);
  assert.equal(numbers[MAX_HISTORY_ENTRIES - 1], 10_000);
  assert.equal(numbers.at(-1), MAX_HISTORY_ENTRIES + 1); // the lowest pushed out, in order
  assert.deepEqual(numbers, [...numbers].sort((a, b) => b - a));
  console.log(`a 100,000-block history report into a full ring: ${ms.toFixed(1)} ms`);
  // Then blocks of the real chain above the flood enter as usual, pushing out the lowest.
  state.apply(message("geth", blockData(20_000), 4000));
  assert.equal(state.blocks(1)[0]!.number, 20_000);
  assert.equal(state.blocks().at(-1)!.number, MAX_HISTORY_ENTRIES + 2);
});

Deno.test("an inactive node is greyed, active again on its next report, and forgotten after removeInactiveAfterMs", () => {
  let now = 10_000;
  const state = createWebState(options({ removeInactiveAfterMs: 5000, now: () => now }));
  state.apply(message("n1", information, now));
  state.apply(message("n2", information, now));
  state.inactive("n1");
  state.inactive("unknown"); // an agent that never reported anything: nothing to show
  assert.equal(state.node("n1")!.active, false);
  assert.equal(state.node("n1")!.inactiveSince, 10_000);
  assert.equal(state.size, 2);
  now += 4999;
  assert.equal(state.sweep(), 0);
  state.apply(message("n2", pending, now));
  state.inactive("n2");
  now += 1;
  assert.equal(state.sweep(), 1);
  assert.equal(state.node("n1"), undefined);
  assert.equal(state.node("n2")!.active, false);
  state.apply(message("n2", pending, now));
  assert.equal(state.node("n2")!.active, true);
  assert.equal(state.node("n2")!.inactiveSince, null);
  now += 10_000;
  assert.equal(state.sweep(), 0, "an active node is never removed");
  assert.equal(state.stats().nodes_removed, 1);
});

Deno.test("takeChanges coalesces: a node changed many times is reported once, removals and new blocks once", () => {
  let now = 0;
  const warnings: string[] = [];
  const state = createWebState(
    options({ maxNodes: 2, removeInactiveAfterMs: 10, now: () => now, warn: (line) => warnings.push(line) }),
  );
  for (let i = 0; i < 100; i++) state.apply(message("busy", { type: "pending", body: { pending: i } }, i));
  state.apply(message("quiet", blockData(5)));
  let changes = state.takeChanges();
  assert.deepEqual(changes.nodes.map((c) => [c.node.id, c.reports]).sort(), [["busy", "all"], [
    "quiet",
    "all",
  ]]);
  assert.deepEqual(changes.nodes.find((c) => c.node.id === "busy")!.node.last.pending, { pending: 99 });
  assert.deepEqual(changes.blocks.map((b) => b.number), [5]);
  assert.deepEqual(state.takeChanges(), { nodes: [], removed: [], blocks: [], dropBlocksAbove: null });
  // Known nodes: only the reports that changed are named.
  state.apply(message("busy", latency, 150));
  state.apply(message("busy", systemStatistics, 150, "system_metrics"));
  state.apply(message("busy", latency, 160));
  state.inactive("quiet");
  changes = state.takeChanges();
  assert.deepEqual(changes.nodes.map((c) => [c.node.id, c.reports]), [["busy", ["latency", "system"]], [
    "quiet",
    [],
  ]]);
  // A third node evicts the least recently heard from (maxNodes 2).
  state.apply(message("third", information, 200));
  changes = state.takeChanges();
  assert.deepEqual(changes.removed, ["quiet"]);
  assert.deepEqual(changes.nodes.map((c) => c.node.id), ["third"]);
  assert.equal(state.stats().nodes_evicted, 1);
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0]!, /more than maxNodes \(2\) nodes report.*set maxNodes above/);
  // Removed, then back before the flush: reported as a new node (all reports), not as removed.
  state.inactive("busy");
  now = 100;
  assert.equal(state.sweep(), 1);
  state.apply(message("busy", information, 300));
  changes = state.takeChanges();
  assert.deepEqual(changes.removed, []);
  assert.deepEqual(changes.nodes.map((c) => [c.node.id, c.reports]), [["busy", "all"]]);
});

Deno.test("toSafeInteger reads numbers, decimal and 0x strings, and refuses the rest", () => {
  assert.equal(toSafeInteger(42), 42);
  assert.equal(toSafeInteger("42"), 42);
  assert.equal(toSafeInteger("0x2a"), 42);
  for (const bad of [-1, 1.5, 2 ** 53, "0x", "-1", "1e3", null, undefined, {}, "0xfffffffffffffffff"]) {
    assert.equal(toSafeInteger(bad), null, String(bad));
  }
});

Deno.test("discardChanges forgets what changed, removals and new blocks, but keeps the nodes", () => {
  let now = 0;
  const state = createWebState(options({ maxNodes: 1, removeInactiveAfterMs: 10, now: () => now }));
  state.apply(message("a", blockData(7)));
  state.apply(message("b", latency, 1)); // evicts "a": a removal to announce
  state.discardChanges();
  assert.deepEqual(state.takeChanges(), { nodes: [], removed: [], blocks: [], dropBlocksAbove: null });
  assert.deepEqual(state.node("b")!.last.latency, latency.body);
  assert.deepEqual(state.blocks().map((b) => b.number), [7]);
  // What changes afterwards is reported again, a known node with only its changed report.
  now = 5;
  state.apply(message("b", latency, 5));
  assert.deepEqual(state.takeChanges().nodes.map((c) => [c.node.id, c.reports]), [["b", ["latency"]]]);
});

Deno.test("propagation: each node's delay after the first report of a block, its average, the network histogram", () => {
  const state = createWebState(options());
  const at = (node: string, n: number, ms: number, extra: Record<string, unknown> = {}) =>
    state.apply(message(node, blockData(n, extra), ms));
  at("a", 10, 1000); // first: 0 ms
  at("b", 10, 1300); // 300 ms
  at("c", 10, 4000); // 3 s
  at("a", 10, 16_000); // geth's full report repeats its head: not a second arrival
  at("fork", 10, 1100, { hash: "0xother" }); // another hash at the height: no propagation figure
  at("b", 11, 13_000);
  at("a", 11, 13_050);
  assert.deepEqual(state.node("a")!.propagation, { lastMs: 50, avgMs: 25 });
  assert.deepEqual(state.node("b")!.propagation, { lastMs: 0, avgMs: 150 });
  assert.deepEqual(state.node("c")!.propagation, { lastMs: 3000, avgMs: 3000 });
  assert.deepEqual(state.node("fork")!.propagation, { lastMs: null, avgMs: null });
  const network = state.propagation();
  assert.deepEqual(network.binsMs, [100, 250, 500, 1000, 2000, 5000]);
  // block 10: 0 ms, 300 ms (250-500), 3 s (2-5 s); block 11: 0 and 50 ms
  assert.deepEqual(network.counts, [3, 0, 1, 0, 0, 1, 0]);
  assert.equal(network.blocks, 2);
  assert.deepEqual(state.blocks().find((b) => b.number === 10)!.propagation, [1, 0, 1, 0, 0, 1, 0]);
});

Deno.test("propagation: the average is over the node's last 20 blocks", () => {
  const state = createWebState(options({ maxBlocks: 100 }));
  for (let n = 1; n <= 30; n++) {
    state.apply(message("first", blockData(n), n * 1000));
    state.apply(message("late", blockData(n), n * 1000 + (n <= 10 ? 5000 : 100)));
  }
  assert.deepEqual(state.node("late")!.propagation, { lastMs: 100, avgMs: 100 }); // the 5 s ones aged out
});

Deno.test("a node's location is looked up when its address first comes and when it changes, not per report", () => {
  const asked: string[] = [];
  const state = createWebState(options({
    locate: (address) => {
      asked.push(address);
      return address === "192.0.2.1" ? null : { lat: 1, lon: 2, country: "XX", city: address };
    },
  }));
  state.apply(message("n1", statisticsSyncing)); // no address (an in-process sender)
  assert.equal(state.node("n1")!.location, null);
  for (let i = 0; i < 3; i++) state.apply({ ...message("n1", latency), address: "203.0.113.5" });
  assert.deepEqual(state.node("n1")!.location, { lat: 1, lon: 2, country: "XX", city: "203.0.113.5" });
  state.apply({ ...message("n1", latency), address: "192.0.2.1" });
  assert.equal(state.node("n1")!.location, null);
  assert.deepEqual(asked, ["203.0.113.5", "192.0.2.1"]);
  state.takeChanges();
  state.apply({ ...message("n1", pending), address: "198.51.100.7" });
  assert.deepEqual(state.takeChanges().nodes.map((c) => [c.node.id, c.node.location?.city]), [[
    "n1",
    "198.51.100.7",
  ]]);
});

Deno.test("without locate (no map) nodes have no location", () => {
  const state = createWebState(options());
  state.apply({ ...message("n1", latency), address: "8.8.8.8" });
  assert.equal(state.node("n1")!.location, null);
});

/** Block `n` of branch `branch` ("" the first), its parent `parent` (a hash). */
function linked(n: number, branch = "", parent = `0x${n - 1}`) {
  return blockData(n, { hash: `0x${n}${branch}`, parentHash: parent });
}

/** Each of `ids` reports blocks `from`..`to` of the first branch as its head (block n at time n). */
function reportChain(state: WebState, ids: string[], from: number, to: number): void {
  for (let n = from; n <= to; n++) for (const id of ids) state.apply(message(id, linked(n), n));
}

Deno.test("recent blocks: a reorganisation the nodes follow replaces the kept block; the dead branch's tip goes", () => {
  const state = createWebState(options());
  reportChain(state, ["a", "b"], 10, 14);
  state.takeChanges();
  // a goes over to another 13; b is still on 14, which descends from the kept 13: kept as it is.
  state.apply(message("a", linked(13, "b", "0x12"), 20));
  assert.deepEqual(state.blocks().map((b) => b.hash), ["0x14", "0x13", "0x12", "0x11", "0x10"]);
  assert.equal(state.stats().blocks_replaced, 0);
  // b follows: no active node is on the old branch any more.
  state.apply(message("b", linked(13, "b", "0x12"), 21));
  assert.deepEqual(state.blocks().map((b) => b.hash), ["0x13b", "0x12", "0x11", "0x10"]);
  const replaced = state.blocks(1)[0]!;
  assert.deepEqual([replaced.firstSeenBy, replaced.firstSeen, replaced.reports], ["b", 21, 1]);
  const changes = state.takeChanges();
  assert.equal(changes.dropBlocksAbove, 13); // the pages let go of 14, then take the new 13
  assert.deepEqual(changes.blocks.map((b) => b.hash), ["0x13b"]);
  assert.deepEqual(state.takeDroppedBlocks().map((b) => b.hash), ["0x14"]);
  assert.deepEqual([state.stats().blocks_replaced, state.stats().blocks_dropped], [1, 1]);
  // The new branch goes on; a reports it first.
  state.apply(message("a", linked(14, "b", "0x13b"), 30));
  state.apply(message("b", linked(14, "b", "0x13b"), 31));
  assert.deepEqual(state.blocks(2).map((b) => [b.hash, b.reports]), [["0x14b", 2], ["0x13b", 1]]);
});

Deno.test("recent blocks: a chain restarted from a low block replaces the old chain's, the old tip above goes", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  for (let n = 1; n <= 40; n++) state.apply(message("node", linked(n), n));
  // The node's chain starts again (ganache restarted): its new head 5 is no block of the old chain.
  state.apply(message("node", linked(5, "new", "0x4new"), 100));
  assert.deepEqual(state.blocks().map((b) => b.hash), ["0x5new", "0x4", "0x3", "0x2", "0x1"]);
  assert.equal(state.stats().blocks_dropped, 35);
  // Its history fills in below: each old block is on no node's chain, so it gives way.
  const history = {
    type: "history",
    body: { history: [linked(4, "new", "0x3new").body, linked(3, "new", "0x2").body] },
  };
  state.apply(message("node", history, 101));
  assert.deepEqual(state.blocks().map((b) => b.hash), ["0x5new", "0x4new", "0x3new", "0x2", "0x1"]);
  assert.equal(state.stats().blocks_replaced, 3);
});

Deno.test("recent blocks: a node on a fork of its own neither replaces nor counts against the chain the others are on", () => {
  const state = createWebState(options());
  reportChain(state, ["m1", "m2"], 10, 14);
  state.apply(message("deviant", linked(14, "d", "0x13"), 20)); // its head
  state.apply(message("deviant", { type: "history", body: { history: [linked(12, "d", "0x11").body] } }, 21));
  assert.deepEqual(state.blocks().map((b) => [b.hash, b.reports]), [
    ["0x14", 2],
    ["0x13", 2],
    ["0x12", 2],
    ["0x11", 2],
    ["0x10", 2],
  ]);
  assert.equal(state.stats().blocks_replaced, 0);
  // The fork shows in the chain's health (web_dashboard/chain.ts), as before.
  assert.deepEqual(state.checkChain().forks.map((f) => f.number), [14]);
});

Deno.test("recent blocks: a gap in the kept blocks does not let a lone forked node replace the blocks below it", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  for (const n of [10, 11, 12, 14, 15, 16]) { // 13 never reported (heads only, fast blocks)
    state.apply(message("m1", linked(n), n));
    state.apply(message("m2", linked(n), n));
  }
  state.apply(message("deviant", linked(16, "d", "0x15"), 20));
  state.apply(message("deviant", { type: "history", body: { history: [linked(11, "d", "0x10").body] } }, 21));
  assert.equal(state.stats().blocks_replaced, 0);
});

Deno.test("recent blocks: an agent that reported the next number first cannot then replace the kept blocks below it", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["m1", "m2"], 1, 30);
  // Its 31 first, claiming a made-up 30 as parent; then a history of made-up blocks linking to it.
  state.apply(message("evil", linked(31, "x", "0x30x"), 100));
  for (const id of ["m1", "m2"]) state.apply(message(id, linked(32, "", "0x31"), 102));
  const fake = [];
  for (let n = 30; n >= 1; n--) fake.push(linked(n, "x", `0x${n - 1}x`).body);
  state.apply(message("evil", { type: "history", body: { history: fake } }, 103));
  assert.equal(state.stats().blocks_replaced, 0);
  assert.equal(state.blocks().find((b) => b.number === 30)!.hash, "0x30");
});

Deno.test("recent blocks: the other nodes restarting for a moment let a lone forked node replace nothing", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["m1", "m2"], 1, 30);
  state.apply(message("deviant", linked(27, "d", "0x26"), 40));
  state.inactive("m1");
  state.inactive("m2");
  state.apply(message("deviant", { type: "history", body: { history: [linked(27, "d", "0x26").body] } }, 41));
  state.apply(message("deviant", linked(28, "d", "0x27d"), 42));
  assert.equal(state.stats().blocks_replaced, 0);
  assert.deepEqual(state.blocks(4).map((b) => b.hash), ["0x30", "0x29", "0x28", "0x27"]);
});

Deno.test("recent blocks: history entries above the reporter's own head (else the best block) are not kept", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["m1", "m2", "m3"], 1, 30);
  // Before: 50 made-up blocks just above the best pushed the network's 1-30 out of the ring.
  const fake = Array.from({ length: 50 }, (_, i) => linked(31 + i, "x", "0xnone").body);
  state.apply(message("agent", { type: "history", body: { history: fake } }, 100));
  assert.deepEqual(state.blocks().map((b) => b.number), Array.from({ length: 30 }, (_, i) => 30 - i));
  state.apply(message("m1", { type: "history", body: { history: [linked(31).body] } }, 101)); // above m1's head too
  assert.equal(state.blocks(1)[0]!.number, 30);
});

Deno.test("recent blocks: a node that alternates between two blocks does not inflate the bar a reorganisation must pass", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["m1", "m2", "m3"], 1, 29);
  // An agent alternates 29 and 30 (each return counts in 30's propagation), then leaves.
  for (let i = 0; i < 10; i++) {
    state.apply(message("agent", linked(30), 40 + i));
    state.apply(message("agent", linked(29), 40 + i));
  }
  for (const id of ["m1", "m2", "m3"]) state.apply(message(id, linked(30), 60));
  state.inactive("agent");
  // The three nodes reorganise to another 30 and go on.
  for (const id of ["m1", "m2", "m3"]) state.apply(message(id, linked(31, "y", "0x30y"), 70));
  for (const id of ["m1", "m2", "m3"]) {
    state.apply(message(id, { type: "history", body: { history: [linked(30, "y", "0x29").body] } }, 71));
  }
  assert.equal(state.blocks().find((b) => b.number === 30)!.hash, "0x30y");
});

Deno.test("recent blocks after a restart (read back from storage): a lone forked node that reconnects first replaces nothing; the nodes' reorganisation still does", () => {
  const before = createWebState(options({ maxBlocks: 50 }));
  reportChain(before, ["m1", "m2", "m3"], 1, 30);
  const after = restarted(before);
  after.apply(message("deviant", linked(30, "d", "0x29"), 100)); // back first, on its own fork
  assert.equal(after.blocks(1)[0]!.hash, "0x30");
  // The nodes reconnect and report their head again: not counted a second time (it was before the restart).
  for (const id of ["m1", "m2", "m3"]) after.apply(message(id, linked(30), 101));
  assert.deepEqual(after.blocks(1)[0]!.propagation.reduce((a, b) => a + b, 0), 3);
  // Then they reorganise: 3 of the 3 that had 30 as their head.
  for (const id of ["m1", "m2", "m3"]) after.apply(message(id, linked(31, "y", "0x30y"), 110));
  for (const id of ["m1", "m2", "m3"]) {
    after.apply(message(id, { type: "history", body: { history: [linked(30, "y", "0x29").body] } }, 111));
  }
  assert.equal(after.blocks().find((b) => b.number === 30)!.hash, "0x30y");
});

Deno.test("recent blocks: during a reorganisation an agent's history of made-up parents under the new block replaces nothing below it", () => {
  const state = createWebState(options({ maxBlocks: 100 }));
  let t = 0;
  for (let n = 1; n <= 90; n++) {
    for (const id of ["m1", "m2", "m3"]) state.apply(message(id, linked(n), t += 10));
  }
  state.apply(message("m1", linked(90, "y", "0x89"), t += 10));
  // The agent's copy of 0x90y with a made-up parent 0xf89, and made-up blocks 0xf89..0xf27 under it.
  const fakes = [{ ...linked(90, "y", "0xf89").body, miner: "0xevil" }];
  for (let n = 89; n >= 27; n--) fakes.push({ ...linked(n, "", `0xf${n - 1}`).body, hash: `0xf${n}` });
  state.apply(message("evil", { type: "history", body: { history: fakes } }, t += 10));
  for (const id of ["m2", "m3"]) state.apply(message(id, linked(90, "y", "0x89"), t += 10));
  for (const id of ["m1", "m2", "m3"]) state.apply(message(id, linked(91, "y", "0x90y"), t += 10));
  const ring = new Map(state.blocks().map((b) => [b.number, b]));
  assert.deepEqual([ring.get(90)!.hash, ring.get(90)!.parentHash], ["0x90y", "0x89"]);
  assert.equal(ring.get(89)!.hash, "0x89");
  assert.deepEqual(state.blocks().filter((b) => b.hash?.startsWith("0xf")), []);
});

/** A history reply of `entries` (block reports' data, newest first as agents send them). */
function historyOf(...entries: Array<ReturnType<typeof linked>>) {
  return { type: "history", body: { history: entries.map((e) => e.body) } };
}

/** A new state (after a restart) with `before`'s blocks read back, as from storage. */
function restarted(before: WebState): WebState {
  const after = createWebState(options({ maxBlocks: 50 }));
  after.restoreBlocks(before.blocks().map((b) => ({ ...b, propagation: [...b.propagation] })));
  return after;
}

/** An agent reports 22..30 as its head ten times over (8 hashes remembered: 30 counted again each round), then leaves. */
function cycleAndLeave(state: WebState): void {
  let t = 100;
  for (let round = 0; round < 10; round++) {
    for (let n = 22; n <= 30; n++) state.apply(message("agent", linked(n), t++));
  }
  state.inactive("agent");
}

Deno.test("recent blocks: a made-up block reported a moment before each honest one gives way once most nodes report the honest one", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["h1", "h2", "h3"], 1, 10);
  let t = 100;
  for (let n = 11; n <= 20; n++) {
    // The attacker's block at the next number first, its parent the honest block below.
    state.apply(message("evil", linked(n, "x", `0x${n - 1}`), t++));
    for (const id of ["h1", "h2", "h3"]) state.apply(message(id, linked(n), t++));
  }
  // Before: the first report at each number was kept while its reporter was on it (its head), and
  // the honest nodes never reported those numbers again.
  const kept = state.blocks(10);
  assert.deepEqual(kept.map((b) => b.hash), Array.from({ length: 10 }, (_, i) => `0x${20 - i}`));
  assert.deepEqual(kept.map((b) => b.reports), new Array(10).fill(2)); // the second and third honest reports
  assert.equal(state.stats().blocks_replaced, 10);
});

Deno.test("recent blocks: blocks filled in from history (no node's head) with a gap above are not replaced by a lone forked node", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  for (const n of [10, 12, 14, 16]) for (const id of ["m1", "m2"]) state.apply(message(id, linked(n), n));
  state.apply(message("m1", historyOf(linked(13), linked(11)), 20)); // 15 not yet
  state.apply(message("deviant", linked(13, "d", "0x12"), 30));
  assert.equal(state.stats().blocks_replaced, 0);
  assert.equal(state.blocks().find((b) => b.number === 13)!.hash, "0x13");
});

Deno.test("recent blocks after a restart: a lone forked node below history-filled blocks replaces none of them, nor drops the tip above", () => {
  const before = createWebState(options({ maxBlocks: 50 }));
  reportChain(before, ["m1", "m2", "m3"], 21, 30);
  const backfill = [];
  for (let n = 20; n >= 11; n--) backfill.push(linked(n));
  before.apply(message("m1", historyOf(...backfill), 40));
  const after = restarted(before);
  after.apply(message("deviant", linked(20, "d", "0x19"), 100)); // back first, on a fork of its own
  // Before: 20 replaced, 21..30 (the network's newest) dropped and deleted from storage.
  assert.deepEqual([after.stats().blocks_replaced, after.stats().blocks_dropped], [0, 0]);
  assert.equal(after.blocks(1)[0]!.hash, "0x30");
  assert.equal(after.blocks().find((b) => b.number === 20)!.hash, "0x20");
});

Deno.test("recent blocks: a node cycling through more blocks than it is remembered for does not raise the bar a reorganisation must pass", () => {
  const state = createWebState(options({ maxBlocks: 50 }));
  reportChain(state, ["m1", "m2", "m3"], 1, 30);
  cycleAndLeave(state); // 30 counted again at each round
  for (const id of ["m1", "m2", "m3"]) state.apply(message(id, linked(31, "y", "0x30y"), 500));
  for (const id of ["m1", "m2", "m3"]) state.apply(message(id, historyOf(linked(30, "y", "0x29")), 501));
  // At most 4 nodes were ever on 30 at once: the 3 that moved are more than half of them.
  assert.equal(state.blocks().find((b) => b.number === 30)!.hash, "0x30y");
});

Deno.test("recent blocks after a restart: the peak is read back with the block; one node back first does not lower it, nor did cycling raise it", () => {
  const before = createWebState(options({ maxBlocks: 50 }));
  reportChain(before, ["m1", "m2", "m3"], 1, 30);
  cycleAndLeave(before);
  assert.equal(before.blocks(1)[0]!.peak, 4); // its propagation counted the cycling agent 11 times

  // One node back first reports the head, and is away again for a moment: the bar stays 4.
  const lone = restarted(before);
  lone.apply(message("m1", linked(30), 200));
  lone.inactive("m1");
  lone.apply(message("deviant", linked(30, "d", "0x29"), 201));
  assert.equal(lone.blocks(1)[0]!.hash, "0x30"); // before: its peak fell to 1 and the deviant replaced it

  // The three nodes reorganised while the service was down: 3 of a peak of 4 (before: of 13).
  const moved = restarted(before);
  for (const id of ["m1", "m2", "m3"]) moved.apply(message(id, linked(31, "y", "0x30y"), 510));
  for (const id of ["m1", "m2", "m3"]) moved.apply(message(id, historyOf(linked(30, "y", "0x29")), 511));
  assert.equal(moved.blocks().find((b) => b.number === 30)!.hash, "0x30y");
});
