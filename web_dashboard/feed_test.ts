import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { BURST_GRACE_MS, OUTBOX_HIGH_WATER, utf8Length } from "../http/websocket.ts";
import { createFeed, createFramer, SNAPSHOT_PART_CHARS } from "./feed.ts";
import { createWebState } from "./state.ts";

/** The frames a page makes of what it was sent: a `parts` header's parts joined, then parsed. */
function pageFrames(texts: string[]): Array<Record<string, unknown>> {
  const frames = [];
  for (let i = 0; i < texts.length; i++) {
    const frame = JSON.parse(texts[i]!);
    if (frame.type !== "parts") {
      frames.push(frame);
      continue;
    }
    frames.push(JSON.parse(texts.slice(i + 1, i + 1 + frame.count).join("")));
    i += frame.count;
  }
  return frames;
}

/**
 * The part of a WebSocket the feed uses, recording what it is sent; a page that `reads` takes
 * every frame at once, one that does not leaves them in Deno (`bufferedAmount`).
 */
class FakeSocket extends EventTarget {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  reads = true;
  texts: string[] = [];
  closedWith: [number, string] | undefined;
  get sent() {
    return pageFrames(this.texts);
  }
  send(text: string) {
    this.texts.push(text);
    if (!this.reads) this.bufferedAmount += utf8Length(text);
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

function setup(maxClients = 10, maxNodes = 100, clock = { now: 5000 }, buildSliceMs?: number) {
  const state = createWebState({
    maxNodes,
    maxBlocks: 10,
    removeInactiveAfterMs: 1000,
    now: () => 5000,
  });
  const feed = createFeed(state, {
    maxClientBufferBytes: 1000,
    maxClients,
    settings: { flushIntervalMs: 500 },
    buildSliceMs,
    now: () => clock.now,
  });
  return { state, feed };
}

Deno.test("a new page gets a snapshot of every node, then one frame per flush with only the changed nodes", () => {
  const { state, feed } = setup();
  state.apply(pending("a", 1));
  state.apply(pending("b", 1));
  feed.flush(); // no page yet: nothing sent, changes discarded
  const socket = new FakeSocket();
  feed.open(socket as unknown as WebSocket);
  assert.equal(socket.sent.length, 1);
  const snapshot = socket.sent[0]!;
  assert.equal(snapshot["type"], "snapshot");
  assert.equal(snapshot["now"], 5000);
  assert.deepEqual(snapshot["settings"], { flushIntervalMs: 500 });
  assert.deepEqual((snapshot["nodes"] as Array<{ id: string }>).map((n) => n.id), ["a", "b"]);

  for (let i = 2; i < 50; i++) state.apply(pending("a", i));
  feed.flush();
  feed.flush(); // nothing changed: no frame
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
  feed.flush();
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
  feed.flush();
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
  feed.flush();
  const update = socket.sent[1] as { nodes: Array<{ last: Record<string, unknown> }> };
  assert.deepEqual(update.nodes[0]!.last["block"], { number: 7 });
  // The read API keeps the whole summary.
  assert.equal(state.node("b")!.last.block!["hash"], "0x7");
});

Deno.test("a long snapshot goes out as parts of whole pieces that join back to it", () => {
  const pieces = Array.from({ length: 400 }, (_, i) => JSON.stringify(`😀${i}é`));
  const text = `[${pieces.join(",")}]`;
  for (const partChars of [7, 100, 1000, text.length - 1]) {
    const framer = createFramer(partChars);
    framer.add("[");
    pieces.forEach((piece, i) => framer.add(i === 0 ? piece : `,${piece}`));
    framer.add("]");
    const { frames, bytes } = framer.finish();
    const header = JSON.parse(frames[0]!.text);
    assert.equal(header.type, "parts");
    assert.equal(header.count, frames.length - 1);
    const parts = frames.slice(1).map((f) => f.text);
    assert.equal(parts.join(""), text);
    for (const part of parts) {
      // A piece longer than a part is a part of its own, never cut.
      assert.ok(part.length <= Math.max(partChars, 1 + pieces[0]!.length + 4), `${part.length} chars`);
      assert.equal(part.isWellFormed(), true, "a part splits a surrogate pair");
    }
    for (const frame of frames) assert.equal(frame.bytes, utf8Length(frame.text));
    assert.equal(bytes, frames.reduce((n, f) => n + utf8Length(f.text), 0));
    assert.deepEqual(pageFrames(frames.map((f) => f.text)), [JSON.parse(text)]);
  }
  const whole = createFramer(text.length);
  whole.add(text);
  assert.deepEqual(whole.finish().frames.map((f) => f.text), [text]);
});

Deno.test("pages connecting between flushes share one snapshot; one that does not read holds about the high water, not the snapshot", async () => {
  const { state, feed } = setup(1000, 10_000);
  // A snapshot of several parts.
  for (let i = 0; i < 10_000; i++) state.apply(information(`node-${i}`));
  const readers = Array.from({ length: 3 }, () => new FakeSocket());
  const idle = Array.from({ length: 50 }, () => {
    const socket = new FakeSocket();
    socket.reads = false;
    return socket;
  });
  for (const socket of [...readers, ...idle]) feed.open(socket as unknown as WebSocket);
  await feed.built();
  const { snapshot_bytes, snapshots_built } = feed.stats();
  assert.equal(snapshots_built, 1);
  // Handed to Deno at most: below the high water, then one part (ASCII here: a byte per character).
  const held = OUTBOX_HIGH_WATER + SNAPSHOT_PART_CHARS;
  assert.ok(snapshot_bytes > 2 * held, `${snapshot_bytes} bytes`);
  for (const socket of readers) {
    const [snapshot] = socket.sent as Array<{ type: string; nodes: unknown[] }>;
    assert.equal(snapshot!.type, "snapshot");
    assert.equal(snapshot!.nodes.length, 10_000);
  }
  for (const socket of idle) {
    assert.ok(socket.bufferedAmount <= held, `${socket.bufferedAmount} bytes held`);
  }
  // After a flush the next page gets a new snapshot, with what changed since.
  state.apply(pending("node-1", 7));
  feed.flush();
  const late = new FakeSocket();
  feed.open(late as unknown as WebSocket);
  await feed.built();
  assert.equal(feed.stats().snapshots_built, 2);
  const [snapshot] = late.sent as Array<{ nodes: Array<{ id: string; last: Record<string, unknown> }> }>;
  assert.deepEqual(snapshot!.nodes.find((n) => n.id === "node-1")!.last["pending"], { pending: 7 });
  feed.close();
});

Deno.test("a page that has not taken its snapshot when its grace ends is closed at the next flush, with nothing to send", async () => {
  const clock = { now: 5000 };
  const { state, feed } = setup(10, 10_000, clock);
  for (let i = 0; i < 10_000; i++) state.apply(information(`node-${i}`));
  const stalled = new FakeSocket();
  stalled.reads = false;
  const reader = new FakeSocket();
  feed.open(stalled as unknown as WebSocket);
  feed.open(reader as unknown as WebSocket);
  await feed.built();
  feed.flush();
  assert.equal(feed.stats().clients, 2);
  clock.now += BURST_GRACE_MS;
  feed.flush(); // no changes
  assert.deepEqual(stalled.closedWith, [1008, "client too slow: not reading"]);
  assert.equal(reader.closedWith, undefined);
  assert.deepEqual(feed.stats().clients, 1);
  feed.close();
});

Deno.test("a snapshot is built a slice at a time: pages joining the build get it with the updates flushed meanwhile", async () => {
  const { state, feed } = setup(10, 1000, { now: 5000 }, 0); // one node per turn of the event loop
  for (let i = 0; i < 50; i++) state.apply(information(`node-${i}`));
  state.apply(pending("node-0", 1));
  feed.flush(); // no page: discarded
  const first = new FakeSocket();
  feed.open(first as unknown as WebSocket);
  assert.equal(first.texts.length, 0, "sent before the build was done");
  assert.equal(feed.stats().clients_waiting, 1);
  // The event loop runs between slices: reports come in and flushes go out meanwhile.
  await new Promise((resolve) => setTimeout(resolve, 5));
  state.apply(pending("node-49", 9)); // perhaps serialized already
  state.apply(information("node-new")); // not among the nodes the build serializes
  feed.flush();
  const second = new FakeSocket();
  feed.open(second as unknown as WebSocket);
  const quitter = new FakeSocket();
  feed.open(quitter as unknown as WebSocket);
  quitter.close(1000, "bye");
  assert.equal(feed.stats().clients_waiting, 2);
  await feed.built();
  assert.equal(feed.stats().snapshots_built, 1);
  assert.equal(feed.stats().clients, 2);
  assert.equal(quitter.texts.length, 0);
  for (const page of [first, second]) {
    const [snapshot, update, ...more] = page.sent as Array<Record<string, unknown>>;
    assert.equal(snapshot!.type, "snapshot");
    assert.equal((snapshot!.nodes as unknown[]).length, 50);
    assert.equal(update!.type, "update");
    const nodes = update!.nodes as Array<{ id: string; full: boolean; last: Record<string, unknown> }>;
    assert.deepEqual(nodes.find((n) => n.id === "node-49")!.last["pending"], { pending: 9 });
    assert.equal(nodes.find((n) => n.id === "node-new")!.full, true);
    assert.deepEqual(more, []);
  }
  // Until the next flush, a page gets that snapshot and its updates at once.
  const third = new FakeSocket();
  feed.open(third as unknown as WebSocket);
  assert.deepEqual(third.texts, first.texts);
  feed.close();
});

Deno.test("closing the feed mid-build closes the pages waiting for the snapshot", async () => {
  const { state, feed } = setup(10, 100, { now: 5000 }, 0);
  for (let i = 0; i < 20; i++) state.apply(information(`node-${i}`));
  const page = new FakeSocket();
  feed.open(page as unknown as WebSocket);
  assert.equal(feed.full, false);
  feed.close();
  await feed.built();
  assert.deepEqual(page.closedWith, [1001, "server shutting down"]);
  assert.equal(page.texts.length, 0);
  await new Promise((resolve) => setTimeout(resolve, 5)); // no slice runs after close
  assert.equal(feed.stats().snapshots_built, 0);
});
