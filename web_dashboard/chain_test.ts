import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { chainHealth, createHeadIndex, MAX_BRANCH_NODES, MAX_FORKS } from "./chain.ts";
import { createWebState } from "./state.ts";

function blockReport(agentId: string, number: number, hash: string, receivedAt = 1000): Message {
  return {
    id: crypto.randomUUID(),
    agentId,
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type: "block", body: { number, hash, parentHash: "0x0", transactions: [], uncles: [] } },
    receivedAt,
  };
}

function stateAt(clock: { now: number }, behindBlocks = 3) {
  return createWebState({
    maxNodes: 1000,
    maxBlocks: 50,
    removeInactiveAfterMs: 60_000,
    behindBlocks,
    now: () => clock.now,
  });
}

Deno.test("chain: nodes at one height on two hashes are a fork, branches with most nodes first", () => {
  const clock = { now: 5000 };
  const state = stateAt(clock);
  for (const id of ["a", "b", "c"]) state.apply(blockReport(id, 10, "0xaaa"));
  for (const id of ["e", "d"]) state.apply(blockReport(id, 10, "0xbbb"));
  state.apply(blockReport("f", 9, "0x999"));
  const health = state.checkChain();
  assert.equal(health.best, 10);
  assert.deepEqual(health.forks, [{
    number: 10,
    branches: [
      { hash: "0xaaa", count: 3, nodes: ["a", "b", "c"] },
      { hash: "0xbbb", count: 2, nodes: ["d", "e"] },
    ],
  }]);
  assert.equal(state.chain(), health);
  // The minority moves on to the majority's chain: no fork any more.
  for (const id of ["d", "e"]) state.apply(blockReport(id, 11, "0xccc"));
  for (const id of ["a", "b", "c"]) state.apply(blockReport(id, 11, "0xccc"));
  assert.deepEqual(state.checkChain().forks, []);
});

Deno.test("chain: an inactive node's head is not a branch, and branch lists are bounded", () => {
  const state = stateAt({ now: 0 });
  for (let i = 0; i < MAX_BRANCH_NODES + 20; i++) state.apply(blockReport(`n${i}`, 7, "0x1"));
  state.apply(blockReport("lone", 7, "0x2"));
  let fork = state.checkChain().forks[0]!;
  assert.equal(fork.branches[0]!.count, MAX_BRANCH_NODES + 20);
  assert.equal(fork.branches[0]!.nodes.length, MAX_BRANCH_NODES);
  state.inactive("lone");
  fork = state.checkChain().forks[0]!;
  assert.equal(fork, undefined);
});

Deno.test("chain: a node more than behindBlocks below the best is behind since the check that saw it, and changes", () => {
  const clock = { now: 1000 };
  const state = stateAt(clock, 2);
  state.apply(blockReport("lead", 100, "0x100"));
  state.apply(blockReport("slow", 98, "0x98"));
  state.apply(blockReport("stuck", 97, "0x97"));
  state.takeChanges();
  let health = state.checkChain();
  assert.deepEqual([...health.behind], ["stuck"]);
  assert.equal(state.node("stuck")!.behindSince, 1000);
  assert.equal(state.node("slow")!.behindSince, null);
  // The flag is a change the pages hear about; staying behind is not a new one.
  assert.deepEqual(state.takeChanges().nodes.map((c) => c.node.id), ["stuck"]);
  clock.now = 4000;
  health = state.checkChain();
  assert.equal(state.node("stuck")!.behindSince, 1000, "behind since the first check that saw it");
  assert.deepEqual(state.takeChanges().nodes, []);
  // It catches up: no longer behind.
  state.apply(blockReport("stuck", 100, "0x100", 4000));
  state.takeChanges();
  state.checkChain();
  assert.equal(state.node("stuck")!.behindSince, null);
  assert.deepEqual(state.takeChanges().nodes.map((c) => c.node.id), ["stuck"]);
});

Deno.test("chain: a lone node far above all others is not the best block, nor are its blocks kept; the others are not behind", () => {
  const clock = { now: 1000 };
  const state = stateAt(clock, 2);
  for (const id of ["a", "b", "c"]) state.apply(blockReport(id, 5000, "0x5000"));
  state.apply(blockReport("stuck", 4990, "0x4990"));
  // One node (another network, a wrong report) far ahead, with a history of more such blocks.
  const far = Number.MAX_SAFE_INTEGER;
  state.apply(blockReport("rogue", far, "0xfar"));
  state.apply({
    ...blockReport("rogue", 0, ""),
    data: {
      type: "history",
      body: { history: [far - 1, far - 2].map((n) => ({ number: n, hash: `0x${n}` })) },
    },
  });
  let health = state.checkChain();
  assert.equal(health.best, 5000);
  assert.deepEqual([...health.behind], ["stuck"], "the real chain's laggard only");
  assert.deepEqual(state.blocks().map((b) => b.number), [5000, 4990]);
  // Within MAX_LEAD_BLOCKS a head leads as before; two nodes far up are the network's best.
  state.apply(blockReport("a", 5003, "0x5003"));
  assert.equal(state.checkChain().best, 5003);
  state.apply(blockReport("b", far, "0xfar"));
  health = state.checkChain();
  assert.equal(health.best, far);
  assert.deepEqual([...health.behind].sort(), ["a", "c", "stuck"]);
});

Deno.test("chain: a node without any block while others have some is behind; an empty network has no best", () => {
  const state = stateAt({ now: 0 });
  assert.deepEqual(state.checkChain(), { best: null, forks: [], behind: new Set() });
  state.apply({
    id: crypto.randomUUID(),
    agentId: "syncing",
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type: "statistics", body: { peers: 1 } },
    receivedAt: 0,
  });
  assert.deepEqual(state.checkChain().behind, new Set());
  state.apply(blockReport("lead", 5, "0x5"));
  assert.deepEqual([...state.checkChain().behind], ["syncing"]);
});

Deno.test("chain: read again only when a head or a node's activity changed since the last check", () => {
  const state = stateAt({ now: 0 });
  state.apply(blockReport("a", 5, "0x5"));
  const first = state.checkChain();
  assert.equal(state.checkChain(), first, "nothing changed: the same result, the nodes not walked");
  state.apply({ ...blockReport("a", 5, "0x5"), data: { type: "pending", body: { pending: 1 } } });
  assert.equal(state.checkChain(), first, "a report that is not a block changes no head");
  state.apply(blockReport("b", 9, "0x9"));
  const second = state.checkChain();
  assert.notEqual(second, first);
  assert.deepEqual([...second.behind], ["a"]);
  state.inactive("a");
  assert.deepEqual([...state.checkChain().behind], [], "an inactive node is not behind");
  state.apply({ ...blockReport("a", 5, "0x5"), data: { type: "pending", body: { pending: 2 } } });
  assert.deepEqual([...state.checkChain().behind], ["a"], "active again: behind again");
});

Deno.test("chain: the heads kept as reports come read the same as a walk over every node, after any mix of changes", () => {
  const clock = { now: 0 };
  const behindBlocks = 2;
  const state = createWebState({
    maxNodes: 20, // 30 ids: some are evicted and come back as new nodes
    maxBlocks: 50,
    removeInactiveAfterMs: 5_000,
    behindBlocks,
    now: () => clock.now,
  });
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const stats = (agentId: string): Message => ({
    id: crypto.randomUUID(),
    agentId,
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type: "statistics", body: { active: true, peers: 3 } },
    receivedAt: clock.now,
  });
  for (let step = 0; step < 3_000; step++) {
    clock.now += 10;
    const id = `n${random(30)}`;
    const what = random(10);
    if (what < 5) {
      const number = 100 + random(8);
      const body: Record<string, unknown> = { number, hash: `0x${number}-${random(3)}` };
      if (random(12) === 0) delete body.hash;
      if (random(15) === 0) body.number = "not a number";
      state.apply({ ...blockReport(id, 0, "", clock.now), data: { type: "block", body } });
    } else if (what < 7) state.apply(stats(id)); // a new node (no block), or one back from inactive
    else if (what < 9) state.inactive(id);
    else {
      clock.now += 2_000;
      state.sweep(); // forgets nodes inactive for 5 s
    }
    if (random(3) !== 0) continue; // several changes between checks too
    const kept = state.checkChain();
    const walked = chainHealth(state.nodes(), behindBlocks);
    assert.equal(kept.best, walked.best, `step ${step}`);
    assert.deepEqual(kept.forks, walked.forks, `step ${step}`);
    assert.deepEqual([...kept.behind].sort(), [...walked.behind].sort(), `step ${step}`);
    for (const node of state.nodes()) {
      assert.equal(node.behindSince !== null, kept.behind.has(node.id), `step ${step}: ${node.id}`);
    }
  }
});

Deno.test("chain: after a reset (the old chain's nodes gone, a new chain far below), the recent blocks become the new chain's", () => {
  const clock = { now: 1000 };
  const state = stateAt(clock); // maxBlocks 50, chainResetAfterMs 300,000 by default
  for (let n = 500_000; n < 500_060; n++) state.apply(blockReport("old", n, `0x${n}`));
  state.checkChain();
  state.inactive("old");
  assert.equal(state.checkChain().best, null); // no active node: nothing to judge by, all kept
  // The new chain's first block finds the ring full of higher numbers.
  state.apply(blockReport("new", 100, "0x100"));
  assert.equal(state.checkChain().best, 100);
  clock.now += 299_000;
  state.checkChain();
  assert.equal(state.blocks().length, 50, "not before chainResetAfterMs");
  clock.now += 1_000;
  state.checkChain();
  // Before: the ring kept the 50 highest numbers (the dead chain's) for good, no new block entered.
  assert.equal(state.blocks().length, 0);
  assert.equal(state.stats().blocks_dropped, 50);
  assert.equal(state.takeChanges().dropBlocksAbove, 150); // the pages drop them too
  assert.equal(state.takeChanges().dropBlocksAbove, null);
  assert.deepEqual(state.takeBlockBounds(), { below: null, above: 150 }); // and the block store
  assert.deepEqual(state.takeBlockBounds(), { below: null, above: null });
  for (let n = 101; n <= 110; n++) state.apply(blockReport("new", n, `0x${n}`));
  assert.deepEqual(state.blocks().map((b) => b.number), [110, 109, 108, 107, 106, 105, 104, 103, 102, 101]);
});

Deno.test("chain: a lagging node that is briefly the only active one (a restart, a pause) takes no block away", () => {
  const clock = { now: 1000 };
  const state = stateAt(clock);
  for (let n = 100_000; n < 100_050; n++) state.apply(blockReport("validator", n, `0x${n}`));
  state.checkChain();
  state.inactive("validator");
  state.apply(blockReport("syncing", 95_000, "0x95000"));
  assert.equal(state.checkChain().best, 95_000);
  clock.now += 60_000;
  state.apply(blockReport("validator", 100_050, "0x100050")); // back, with the next block
  assert.equal(state.checkChain().best, 100_050);
  clock.now += 600_000;
  state.checkChain();
  assert.equal(state.blocks().length, 50);
  assert.equal(state.blocks()[0]!.number, 100_050);
  assert.equal(state.stats().blocks_dropped, 0);
});

Deno.test("chain: the node with the highest block going inactive keeps its blocks while the others are within maxBlocks", () => {
  const clock = { now: 1000 };
  const state = stateAt(clock);
  state.apply(blockReport("ahead", 1010, "0x1010"));
  state.apply(blockReport("slow", 1000, "0x1000"));
  state.checkChain();
  state.inactive("ahead");
  assert.equal(state.checkChain().best, 1000);
  assert.deepEqual(state.blocks().map((b) => b.number), [1010, 1000]);
});

Deno.test("head index: nodes at or above a height, kept up to date as heads move and nodes leave", () => {
  const index = createHeadIndex();
  const at = (n: number) => ({ number: n, hash: `0x${n}` });
  index.set("a", at(10));
  index.set("b", at(12));
  index.set("c", at(12));
  index.set("d", null); // no block yet: at no height
  assert.deepEqual([9, 10, 11, 12, 13].map((n) => index.atOrAbove(n)), [3, 3, 2, 2, 0]);
  index.set("a", at(13));
  assert.deepEqual([10, 13].map((n) => index.atOrAbove(n)), [3, 1]);
  index.remove("b");
  assert.deepEqual([10, 12, 13].map((n) => index.atOrAbove(n)), [2, 2, 1]);
});

Deno.test("head index: the forks are the MAX_FORKS highest heights with two hashes or more, highest first, in any insertion order", () => {
  const index = createHeadIndex();
  const heights = Array.from({ length: 30 }, (_, i) => 100 + i * 3);
  // Inserted out of order; each forked height has a majority hash and one other.
  for (const n of [...heights].sort((x, y) => ((x * 7919) % 31) - ((y * 7919) % 31))) {
    index.set(`${n}-a`, { number: n, hash: `0xa${n}` });
    index.set(`${n}-b`, { number: n, hash: `0xa${n}` });
    index.set(`${n}-c`, { number: n, hash: `0xc${n}` });
  }
  index.set("alone", { number: 500, hash: "0x500" }); // one hash: no fork
  const { forks } = index.health(3);
  assert.equal(forks.length, MAX_FORKS);
  assert.deepEqual(forks.map((f) => f.number), heights.slice(-MAX_FORKS).reverse());
  assert.deepEqual(forks[0]!.branches.map((b) => [b.hash, b.count]), [[`0xa187`, 2], [`0xc187`, 1]]);
});
