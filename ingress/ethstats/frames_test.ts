/**
 * Frames as each client puts them on the wire (research notes in the README, "Nodes on the
 * ethstats socket"), read into the original agent's shapes. The live clients are exercised in
 * tests/real_clients_test.ts; these pin each encoding rule on its own.
 */
import assert from "node:assert/strict";
import {
  blockPayload,
  decodeFrame,
  helloPayload,
  historyBlocks,
  isHistoryAnswer,
  latencyPayload,
  pendingPayload,
  PRIMUS_SERVER_CLOSE,
  primusPing,
  statisticsBody,
  statsPayload,
} from "./frames.ts";

const H = (c: string) => "0x" + c.repeat(64);

Deno.test("decodeFrame: emits, Primus heartbeats in both spellings, control frames, garbage", () => {
  assert.deepEqual(decodeFrame('{"emit":["hello",{"id":"a"}]}\n'), {
    kind: "emit",
    name: "hello",
    payload: { id: "a" },
  });
  assert.deepEqual(decodeFrame('"primus::ping::1700000000000"'), {
    kind: "ping",
    reply: '"primus::pong::1700000000000"',
  });
  assert.deepEqual(decodeFrame("primus::ping::17\n"), { kind: "ping", reply: '"primus::pong::17"' });
  for (const control of ['"primus::pong::1"', "primus::pong::1", '"primus::id::abc"', '{"_latency":12}']) {
    assert.deepEqual(decodeFrame(control), { kind: "control" }, control);
  }
  for (const bad of ["not json", "null", "[1]", '"hi"', '{"emit":"x"}', '{"emit":[1]}']) {
    assert.equal(decodeFrame(bad).kind, "unusable", bad);
  }
  let deep = "1";
  for (let i = 0; i < 100; i++) deep = `[${deep}]`;
  assert.equal(decodeFrame(`{"emit":["x",${deep}]}`).kind, "unusable");
  // A pong echoes its ping: only a heartbeat's short ping is answered, not megabytes sent back.
  for (const long of [`"primus::ping::${"1".repeat(60)}"`, `primus::ping::${"x".repeat(7_000_000)}`]) {
    assert.equal(decodeFrame(long).kind, "unusable", long.slice(0, 20));
  }
  assert.equal(primusPing(5), '"primus::ping::5"');
  assert.equal(PRIMUS_SERVER_CLOSE, '"primus::server::close"');
});

Deno.test("web3 0.x stats (eth-net-intelligence-api): gasPrice as a decimal string, a syncing object", () => {
  const stats = statsPayload.parse({
    id: "n",
    stats: {
      active: true,
      syncing: { startingBlock: 1, currentBlock: 50, highestBlock: 100, progress: 50 },
      mining: false,
      hashrate: 0,
      peers: 25,
      gasPrice: "20000000000",
      uptime: 99.5,
    },
  }).stats;
  assert.equal(stats.gasPrice, 20000000000);
  assert.deepEqual(stats.syncing, { startingBlock: 1, currentBlock: 50, highestBlock: 100, progress: 50 });
  assert.equal(stats.uptime, 99.5);
  // a gas price beyond 2^53 stays exact, as a decimal string
  assert.equal(
    statsPayload.parse({
      stats: { active: true, syncing: false, peers: 1, gasPrice: "123456789012345678901" },
    })
      .stats.gasPrice,
    "123456789012345678901",
  );
  // Hex quantities (Besu sends its stats as JSON numbers, NodeStatsReport.java; a client sending them
  // as hex is read alike), and current geth without mining/hashrate
  const besu = statsPayload.parse({
    stats: { active: true, syncing: true, peers: "0x19", gasPrice: "0x3b9aca00" },
  });
  assert.deepEqual(besu.stats, {
    active: true,
    syncing: true,
    mining: false,
    hashrate: 0,
    peers: 25,
    gasPrice: 1000000000,
    uptime: null,
  });
  assert.equal(
    statsPayload.safeParse({ stats: { active: true, syncing: false, peers: -1, gasPrice: 1 } }).success,
    false,
  );
  // Nethermind's capped gas price (2^63-1) as a JSON number: the frame was refused; kept as JSON.parse read it.
  const capped = JSON.parse(
    '{"stats":{"active":true,"syncing":false,"peers":1,"gasPrice":9223372036854775807}}',
  );
  assert.equal(statsPayload.parse(capped).stats.gasPrice, "9223372036854775808");
  // The statistics report made of it carries numbers, as the original agent's JSON did (eth_stats stores it).
  assert.equal(statisticsBody(statsPayload.parse(capped).stats, null).gasPrice, 2 ** 63);
  for (const gasPrice of [1.5, -1, "1.5"]) {
    assert.equal(
      statsPayload.safeParse({ stats: { active: true, syncing: false, peers: 1, gasPrice } }).success,
      false,
    );
  }
  assert.equal(
    blockPayload.parse({ block: { number: 1, hash: "0x1", difficulty: 2 ** 70 } }).block.difficulty,
    "1180591620717411303424",
  );
});

Deno.test("latency and pending as numbers or strings (geth and Besu send latency as a string), never negative or words", () => {
  assert.equal(latencyPayload.parse({ latency: "3" }).latency, 3);
  assert.equal(latencyPayload.parse({ latency: 2.5 }).latency, 2.5);
  assert.equal(latencyPayload.safeParse({ latency: "fast" }).success, false);
  assert.equal(pendingPayload.parse({ stats: { pending: "0x0a" } }).stats.pending, 10);
  assert.equal(pendingPayload.safeParse({ stats: { pending: -1 } }).success, false);
});

Deno.test("blocks: web3 hash strings, geth {hash}, Besu full objects and hex quantities all read alike", () => {
  const common = { hash: H("b"), parentHash: H("a"), miner: "0x" + "c".repeat(40), uncles: [] };
  // web3 0.x outputBlockFormatter: numbers, BigNumber difficulties as decimal strings, tx hashes
  const web3 = blockPayload.parse({
    block: {
      ...common,
      number: 100,
      gasLimit: 30000000,
      gasUsed: 21000,
      size: 675,
      timestamp: 1700001200,
      difficulty: "0",
      totalDifficulty: "58750003716598352816469",
      transactions: [H("1"), H("2")],
      sha3Uncles: H("d"),
    },
  }).block;
  const geth = blockPayload.parse({
    block: {
      ...common,
      number: 100,
      gasLimit: 30000000,
      gasUsed: 21000,
      size: 675,
      timestamp: 1700001200,
      difficulty: "0",
      totalDifficulty: "58750003716598352816469",
      transactions: [{ hash: H("1") }, { hash: H("2") }],
      sha3Uncles: H("d"),
    },
  }).block;
  const besu = blockPayload.parse({
    block: {
      ...common,
      number: "0x64",
      gasLimit: "0x1c9c380",
      gasUsed: "0x5208",
      size: "0x2a3",
      timestamp: "0x6553f5b0",
      difficulty: "0x0",
      totalDifficulty: "0xc70d815d562d3cfa955",
      transactions: [
        { hash: H("1"), from: "0x" + "e".repeat(40), gas: "0x5208", input: "0x" },
        { hash: H("2"), nonce: "0x1" },
      ],
      sha3Uncles: H("d"),
    },
  }).block;
  assert.deepEqual(web3, geth);
  assert.deepEqual(besu, geth);
  assert.deepEqual(web3.transactions, [H("1"), H("2")]);
  assert.equal(web3.totalDifficulty, "58750003716598352816469");
  assert.equal(web3.sha3Uncles, H("d")); // unknown keys are kept
  // Nethermind: one empty object per uncle is kept as it came
  assert.deepEqual(blockPayload.parse({ block: { number: 1, hash: H("1"), uncles: [{}] } }).block.uncles, [
    {},
  ]);
  assert.equal(blockPayload.safeParse({ block: { number: "twelve", hash: H("1") } }).success, false);
  assert.equal(
    blockPayload.safeParse({ block: { number: 1, hash: H("1"), transactions: [7] } }).success,
    false,
  );
});

Deno.test("history: null and broken entries are skipped, the rest kept in order", () => {
  const { blocks, skipped } = historyBlocks([
    { number: 3, hash: H("3") },
    null,
    { number: "x", hash: H("2") },
    { number: 1, hash: H("1"), transactions: [{ hash: H("f") }] },
  ]);
  assert.equal(skipped, 2);
  assert.deepEqual(blocks.map((b) => b.number), [3, 1]);
  assert.deepEqual(blocks[1]?.transactions, [H("f")]);
});

Deno.test("a block's bad transactions make one issue, not one each; more uncles than a block may have are refused", () => {
  // A frame of millions of zeros held the event loop for 49 s and took 4.6 GB: an issue per entry.
  const zeros = new Array(100_000).fill(0);
  const parsed = blockPayload.safeParse({ block: { number: "0x1", hash: H("1"), transactions: zeros } });
  assert.equal(parsed.success, false);
  assert.equal(parsed.error!.issues.length, 1, JSON.stringify(parsed.error!.issues.slice(0, 3)));
  // Through the schema (a hex number is not the fast path's), hashes and {hash} as before.
  const block = blockPayload.parse({
    block: { number: "0x1", hash: H("1"), transactions: [H("a"), { hash: H("b") }] },
  });
  assert.deepEqual(block.block.transactions, [H("a"), H("b")]);
  assert.equal(
    blockPayload.safeParse({ block: { number: 1, hash: H("1"), uncles: new Array(16).fill({}) } }).success,
    true,
  );
  assert.equal(
    blockPayload.safeParse({ block: { number: 1, hash: H("1"), uncles: new Array(17).fill({}) } }).success,
    false,
  );
  assert.equal(
    blockPayload.safeParse({ block: { number: "0x1", hash: H("1"), uncles: zeros } }).success,
    false,
  );
});

Deno.test("history: entries past the 256th are skipped unread (a frame of millions nobody asked for)", () => {
  const entries: unknown[] = Array.from(
    { length: 256 },
    (_, i) => ({ number: i + 1, hash: H(String(i + 1)) }),
  );
  for (let i = 0; i < 1000; i++) {
    entries.push({
      get number(): number {
        throw new Error("an entry past the 256th was read");
      },
    });
  }
  const { blocks, skipped } = historyBlocks(entries);
  assert.equal(blocks.length, 256);
  assert.equal(skipped, 1000);
});

Deno.test("statisticsBody: geth's syncing true becomes the original's object with the node's head block", () => {
  const stats = statsPayload.parse({ stats: { active: true, syncing: true, peers: 3, gasPrice: 1 } }).stats;
  assert.deepEqual(statisticsBody(stats, 1000).syncing, {
    currentBlock: 1000,
    highestBlock: null,
    startingBlock: null,
  });
  const synced = statsPayload.parse({ stats: { active: true, syncing: false, peers: 3, gasPrice: 1 } }).stats;
  assert.equal(statisticsBody(synced, 1000).syncing, false);
  const web3 = statsPayload.parse({
    stats: {
      active: true,
      syncing: { currentBlock: 5, highestBlock: 9, startingBlock: 0, progress: 50 },
      peers: 3,
    },
  }).stats;
  assert.deepEqual(statisticsBody(web3, null).syncing, {
    currentBlock: 5,
    highestBlock: 9,
    startingBlock: 0,
  });
});

Deno.test("Nethermind's hello names os_v os_V (its OS architecture): it is read as os_v (and kept as sent)", () => {
  const hello = helloPayload.parse({
    id: "nm",
    secret: "s",
    info: { name: "nm", os: "Linux", os_V: "X64", node: "Nethermind/v1.36.0" },
  });
  assert.equal(hello.info.os_v, "X64");
  assert.equal(hello.info["os_V"], "X64");
  const geth = helloPayload.parse({ id: "g", secret: "s", info: { os: "linux", os_v: "amd64" } });
  assert.equal(geth.info.os_v, "amd64");
});

Deno.test("a hello's info fields are informational: null kept, other odd values dropped, never the hello", () => {
  // eth-net-intelligence-api beside go-ethereum 1.10-1.13 (no eth_protocolVersion) sends protocol and api null.
  const enia = helloPayload.parse({
    id: "n",
    secret: "u:p",
    info: { name: "n", protocol: null, api: null, port: 30303, contact: null },
  });
  assert.deepEqual(enia.info, { name: "n", protocol: null, api: null, port: 30303, contact: null });
  const odd = helloPayload.parse({
    id: "n",
    secret: "u:p",
    info: { name: "x".repeat(2000), port: { tcp: 1 }, net: [1], canUpdateHistory: "yes", os: "linux" },
  });
  assert.deepEqual(odd.info, { os: "linux" });
  // What is not a hello still is not one.
  assert.equal(helloPayload.safeParse({ id: "n", secret: "u:p", info: null }).success, false);
});

Deno.test("a history answer is told from its first bytes, as each client writes it (the rest may be megabytes)", () => {
  for (
    const frame of [
      '{"emit":["history",{"id":"geth","history":[]}]}\n', // go-ethereum, newline-terminated
      '{ "emit" : [ "history", {"id":"besu"', // spaced, cut short
      `{"emit":["history",{"id":"n","history":[${'{"number":1},'.repeat(100_000)}`,
    ]
  ) assert.equal(isHistoryAnswer(frame), true, frame.slice(0, 30));
  for (const frame of ['{"emit":["block",{"id":"n"}]}', '"primus::ping::1"', new Uint8Array(8), "{"]) {
    assert.equal(isHistoryAnswer(frame), false, String(frame));
  }
});
