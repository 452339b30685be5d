import assert from "node:assert/strict";
import { createReportHandlers, type ReportingNode } from "./reports.ts";

const H = (c: string) => "0x" + c.repeat(64);

function setup() {
  const published: Array<{ type: string; body: Record<string, unknown> }> = [];
  const sent: string[] = [];
  const blocks: Array<{ numbers: number[]; fromHistory: boolean }> = [];
  let skipped = 0;
  const handlers = createReportHandlers<ReportingNode>({
    publish: (_node, type, body) => published.push({ type, body }),
    send: (_node, frame) => sent.push(frame),
    share: (block) => block,
    blocks: (_node, links, fromHistory) => blocks.push({ numbers: links.map((l) => l.number), fromHistory }),
    skipped: (count) => skipped += count,
  });
  const node: ReportingNode = { headBlock: null, synced: false };
  const report = (name: string, payload: unknown) => handlers.get(name)!(node, payload);
  return { published, sent, blocks, node, report, skipped: () => skipped };
}

Deno.test("reports: a block moves the node's head and is published; stats with syncing true use that head", () => {
  const t = setup();
  assert.equal(
    t.report("block", { id: "n", block: { number: 12, hash: H("c"), transactions: [{ hash: H("1") }] } }),
    true,
  );
  assert.equal(t.report("block", { id: "n", block: { number: "0xa", hash: H("a") } }), true); // Besu hex, lower
  assert.equal(t.node.headBlock, 12);
  assert.deepEqual(t.blocks, [{ numbers: [12], fromHistory: false }, { numbers: [10], fromHistory: false }]);
  assert.deepEqual(t.published[0], {
    type: "block",
    body: { number: 12, hash: H("c"), transactions: [H("1")] },
  });
  assert.equal(t.report("stats", { stats: { active: true, syncing: true, peers: 3, gasPrice: "7" } }), true);
  assert.deepEqual(t.published.at(-1), {
    type: "statistics",
    body: {
      active: true,
      mining: false,
      hashrate: 0,
      peers: 3,
      gasPrice: 7,
      syncing: { currentBlock: 12, highestBlock: null, startingBlock: null },
      uptime: null,
    },
  });
});

Deno.test("reports: node-ping is answered, not published; malformed payloads publish nothing", () => {
  const t = setup();
  assert.equal(t.report("node-ping", { id: "n", clientTime: "Mon" }), true);
  assert.equal(JSON.parse(t.sent[0]!).emit[1].clientTime, "Mon");
  assert.equal(t.report("latency", { latency: "fast" }), false);
  assert.equal(t.report("pending", { stats: { pending: -1 } }), false);
  assert.equal(t.report("block", { block: { hash: H("a") } }), false);
  assert.deepEqual(t.published, []);
  assert.equal(t.report("latency", { latency: "4" }), true);
  assert.deepEqual(t.published, [{ type: "latency", body: { latency: 4 } }]);
});

Deno.test("reports: a history reply publishes its valid blocks, counts the rest and names the numbers", () => {
  const t = setup();
  const history = [{ number: 3, hash: H("3") }, null, { number: "0x2", hash: H("2") }, { hash: H("x") }];
  assert.equal(t.report("history", { id: "n", history }), true);
  assert.equal(t.skipped(), 2);
  assert.deepEqual(t.blocks, [{ numbers: [3, 2], fromHistory: true }]);
  assert.deepEqual(t.published[0]!.body, {
    history: [{ number: 3, hash: H("3") }, { number: 2, hash: H("2") }],
  });
  assert.equal(t.node.headBlock, null); // history is the past, not the head
});
