import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { createFeed } from "./feed.ts";
import { createWebState } from "./state.ts";

/** The part of a WebSocket the feed uses, recording what it is sent. */
class FakeSocket extends EventTarget {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent: Array<Record<string, unknown>> = [];
  closedWith: [number, string] | undefined;
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
    this.readyState = WebSocket.CLOSED;
    this.dispatchEvent(new Event("close"));
  }
}

function pending(agentId: string, value: number): Message {
  return {
    id: crypto.randomUUID(),
    agentId,
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type: "pending", body: { pending: value } },
    receivedAt: 1000 + value,
  };
}

function information(agentId: string): Message {
  return { ...pending(agentId, 0), data: { type: "information", body: { name: agentId } } };
}

function setup(maxClients = 10) {
  const state = createWebState({
    maxNodes: 100,
    maxBlocks: 10,
    removeInactiveAfterMs: 1000,
    now: () => 5000,
  });
  const feed = createFeed(state, {
    maxClientBufferBytes: 1000,
    maxClients,
    settings: { flushIntervalMs: 500 },
    now: () => 5000,
  });
  return { state, feed };
}

Deno.test("a new page gets a snapshot of every node, then one frame per flush with only the changed nodes", () => {
  const { state, feed } = setup();
  state.apply(pending("a", 1));
  state.apply(pending("b", 1));
  feed.flush(state.takeChanges()); // no page yet: nothing sent, changes consumed
  const socket = new FakeSocket();
  feed.open(socket as unknown as WebSocket);
  assert.equal(socket.sent.length, 1);
  const snapshot = socket.sent[0]!;
  assert.equal(snapshot["type"], "snapshot");
  assert.equal(snapshot["now"], 5000);
  assert.deepEqual(snapshot["settings"], { flushIntervalMs: 500 });
  assert.deepEqual((snapshot["nodes"] as Array<{ id: string }>).map((n) => n.id), ["a", "b"]);

  for (let i = 2; i < 50; i++) state.apply(pending("a", i));
  feed.flush(state.takeChanges());
  feed.flush(state.takeChanges()); // nothing changed: no frame
  assert.equal(socket.sent.length, 2);
  const update = socket.sent[1] as {
    type: string;
    nodes: Array<{ id: string; last: unknown; full: boolean }>;
    removed: string[];
  };
  assert.equal(update.type, "update");
  assert.deepEqual(update.nodes.map((n) => [n.id, n.last, n.full]), [[
    "a",
    { pending: { pending: 49 } },
    false,
  ]]);
  assert.deepEqual(update.removed, []);
  // A node the pages do not know yet comes with every report.
  state.apply(information("c"));
  state.apply(pending("c", 3));
  state.apply(pending("a", 50));
  feed.flush(state.takeChanges());
  const next = socket.sent[2] as typeof update;
  assert.deepEqual(next.nodes.map((n) => [n.id, n.last, n.full]).sort(), [
    ["a", { pending: { pending: 50 } }, false],
    ["c", { information: { name: "c" }, pending: { pending: 3 } }, true],
  ]);
  feed.close();
  assert.deepEqual(socket.closedWith, [1001, "server shutting down"]);
});

Deno.test("a page that does not read is closed with 1008 once its unsent bytes pass the limit", () => {
  const { state, feed } = setup();
  const slow = new FakeSocket();
  const fast = new FakeSocket();
  feed.open(slow as unknown as WebSocket);
  feed.open(fast as unknown as WebSocket);
  slow.bufferedAmount = 5000; // past the limit plus its (small) snapshot
  state.apply(pending("a", 1));
  feed.flush(state.takeChanges());
  assert.deepEqual(slow.closedWith, [1008, "client too slow: not reading"]);
  assert.equal(fast.closedWith, undefined);
  assert.equal(fast.sent.length, 2);
  assert.equal(feed.stats().clients_closed_slow, 1);
  assert.equal(feed.stats().clients, 1);
  feed.close();
});

Deno.test("the feed refuses pages beyond maxClients and after close", () => {
  const { feed } = setup(1);
  assert.equal(feed.full, false);
  feed.open(new FakeSocket() as unknown as WebSocket);
  assert.equal(feed.full, true);
  feed.close();
  const late = new FakeSocket();
  feed.open(late as unknown as WebSocket);
  assert.deepEqual(late.closedWith, [1001, "server shutting down"]);
});

Deno.test("pages get a node's block as its number only (the block itself once, in blocks), and the chain", () => {
  const { state, feed } = setup();
  const blockReport = (agentId: string): Message => ({
    ...pending(agentId, 0),
    data: {
      type: "block",
      body: {
        number: 7,
        hash: "0x7",
        parentHash: "0x6",
        miner: "0xm",
        gasLimit: 8,
        transactions: [],
        uncles: [],
      },
    },
  });
  state.apply(blockReport("a"));
  state.checkChain();
  const socket = new FakeSocket();
  feed.open(socket as unknown as WebSocket);
  const snapshot = socket.sent[0] as {
    nodes: Array<{ last: Record<string, unknown> }>;
    blocks: Array<Record<string, unknown>>;
    chain: unknown;
  };
  assert.deepEqual(snapshot.nodes[0]!.last["block"], { number: 7 });
  assert.equal(snapshot.blocks[0]!["miner"], "0xm");
  assert.deepEqual(snapshot.chain, { best: 7, forks: [] });
  state.apply(blockReport("b"));
  feed.flush(state.takeChanges());
  const update = socket.sent[1] as { nodes: Array<{ last: Record<string, unknown> }> };
  assert.deepEqual(update.nodes[0]!.last["block"], { number: 7 });
  // The read API keeps the whole summary.
  assert.equal(state.node("b")!.last.block!["hash"], "0x7");
});
