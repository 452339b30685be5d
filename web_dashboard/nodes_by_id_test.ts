import assert from "node:assert/strict";
import { reportMessage } from "../tests/support/fixtures.ts";
import { createNodesById } from "./nodes_by_id.ts";
import { createWebState } from "./state.ts";

Deno.test("nodes by id: always the state's nodes in id order, through additions, evictions, inactive nodes forgotten and nodes back", () => {
  let now = 1_000_000;
  const state = createWebState({
    maxNodes: 50,
    maxBlocks: 10,
    removeInactiveAfterMs: 1000,
    now: () => now,
    warn: () => {},
  });
  const nodesById = createNodesById(state);
  const expected = () => [...state.nodes()].map((n) => n.id).sort();
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 200; round++) {
    for (let k = random(8); k > 0; k--) {
      state.apply(
        reportMessage(`node-${random(120)}`, { type: "latency", body: { latency: 1 } }, { receivedAt: now }),
      );
    }
    if (random(4) === 0) state.inactive(`node-${random(120)}`);
    if (random(6) === 0) {
      now += 2000;
      state.sweep();
    }
    const got = nodesById();
    assert.deepEqual(got.map((n) => n.id), expected(), `round ${round}`);
    // The nodes themselves, as the state holds them now.
    for (const node of got) assert.equal(state.node(node.id), node);
  }
  // Nothing came or went: the same list, not built again.
  assert.equal(nodesById(), nodesById());
});
