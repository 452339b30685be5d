import assert from "node:assert/strict";
import fc from "fast-check";
import type { z } from "zod";
import { GETH_STATS, gethBlock } from "../../bench/ethstats_load.ts";
import {
  canonicalBlockPayload,
  canonicalLatencyPayload,
  canonicalNodePingPayload,
  canonicalPendingPayload,
  canonicalStatsPayload,
} from "./canonical.ts";
import { blockPayload, latencyPayload, nodePingPayload, pendingPayload, statsPayload } from "./frames.ts";

const H = (c: string) => "0x" + c.repeat(64);

const pairs: Array<[string, z.ZodType, (raw: unknown) => unknown]> = [
  ["block", blockPayload, canonicalBlockPayload],
  ["stats", statsPayload, canonicalStatsPayload],
  ["pending", pendingPayload, canonicalPendingPayload],
  ["latency", latencyPayload, canonicalLatencyPayload],
  ["node-ping", nodePingPayload, canonicalNodePingPayload],
];

/** Payloads the fast path read, by schema (the generated cases must reach it, not only stand aside). */
const taken = new Map<z.ZodType, number>();

/** The fast path either stands aside or gives exactly what the schema gives. */
function agrees(schema: z.ZodType, fast: (raw: unknown) => unknown, raw: unknown): boolean {
  const got = fast(structuredClone(raw));
  if (got === undefined) return true;
  taken.set(schema, (taken.get(schema) ?? 0) + 1);
  const parsed = schema.safeParse(structuredClone(raw));
  assert.ok(parsed.success, `fast path accepted what the schema refuses: ${JSON.stringify(raw)}`);
  assert.deepStrictEqual(got, parsed.data, JSON.stringify(raw));
  return true;
}

Deno.test("canonical: go-ethereum's frames take the fast path and read as their schemas read them", () => {
  const geth = {
    block: { block: { ...gethBlock(20_000_007), transactions: [{ hash: H("1") }, { hash: H("2") }] } },
    stats: { stats: GETH_STATS },
    pending: { stats: { pending: 3 } },
    latency: { latency: "12" }, // geth: strconv.Itoa
    "node-ping": { clientTime: new Date().toString() },
  };
  for (const [name, schema, fast] of pairs) {
    const raw = { id: "node-1", ...geth[name as keyof typeof geth] };
    assert.notEqual(fast(raw), undefined, `${name} missed the fast path`);
    agrees(schema, fast, raw);
  }
  // web3 (eth-net-intelligence-api): transactions as hash strings, stats without defaults
  const web3 = {
    block: { number: 5, hash: H("b"), transactions: [H("1")], uncles: [], totalDifficulty: "10" },
  };
  assert.deepEqual(canonicalBlockPayload(web3)?.block.transactions, [H("1")]);
  agrees(blockPayload, canonicalBlockPayload, web3);
  agrees(statsPayload, canonicalStatsPayload, { stats: { active: true, syncing: false, peers: 2 } });
});

Deno.test("canonical: what needs converting or refusing is left to the schema", () => {
  const besu = { block: { number: "0x64", hash: H("b"), difficulty: "0x0" } };
  assert.equal(canonicalBlockPayload(besu), undefined);
  assert.equal(canonicalBlockPayload({ block: { number: 1, hash: H("b"), difficulty: "007" } }), undefined);
  assert.equal(
    canonicalStatsPayload({ stats: { active: true, syncing: { currentBlock: 1 }, peers: 1 } }),
    undefined,
  );
  assert.equal(
    canonicalStatsPayload({ stats: { active: true, syncing: false, peers: 1, mining: null } }),
    undefined,
  );
  assert.equal(
    canonicalStatsPayload({ stats: { active: true, syncing: false, peers: 1, hashrate: null } }),
    undefined,
  );
  assert.equal(canonicalPendingPayload({ stats: { pending: 2 ** 53 } }), undefined);
  assert.equal(canonicalLatencyPayload({ latency: "1e3" }), undefined);
  assert.equal(canonicalNodePingPayload({ clientTime: "x".repeat(257) }), undefined);
});

Deno.test("canonical: on generated payloads the fast path agrees with the schema or stands aside", () => {
  const quantity = fc.oneof(
    fc.nat(),
    fc.integer({ min: -5, max: -1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(2 ** 53, 2 ** 53 - 1, -0, 0.5),
    fc.constantFrom("0", "12", "007", "0x1f", "0x", "-1", "1.5", "58750003716598352816469", "1e3", ""),
    fc.constant(null),
    fc.boolean(),
  );
  const text = fc.oneof(
    fc.string({ maxLength: 4 }),
    fc.constant("x".repeat(257)),
    fc.constant(H("a")),
    fc.nat(),
  );
  /** Mostly the canonical form, now and then anything: most cases reach the fast path's end. */
  const mostly = <T>(canonical: fc.Arbitrary<T>, odd: fc.Arbitrary<unknown>) =>
    fc.oneof({ arbitrary: canonical, weight: 30 }, { arbitrary: odd, weight: 1 });
  const count = mostly(fc.nat(), quantity);
  const hashText = mostly(fc.string({ maxLength: 8 }), text);
  const decimalText = mostly(fc.constantFrom("0", "1", "58750003716598352816469"), quantity);
  const tx = mostly(
    fc.oneof(fc.constant(H("1")), fc.record({ hash: fc.constant(H("2")) })),
    fc.oneof(text, fc.record({ hash: text, from: text }), fc.constant(null)),
  );
  const block = fc.record(
    {
      number: count,
      hash: hashText,
      parentHash: hashText,
      timestamp: count,
      miner: hashText,
      gasUsed: count,
      gasLimit: count,
      size: count,
      difficulty: decimalText,
      totalDifficulty: mostly(decimalText, fc.constant(null)),
      transactions: mostly(fc.array(tx, { maxLength: 3 }), text),
      uncles: mostly(fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }), text),
      sha3Uncles: text,
    },
    { requiredKeys: ["number", "hash"] },
  );
  const flag = mostly(
    fc.boolean(),
    fc.oneof(fc.constant(null), fc.constant("true"), fc.record({ currentBlock: quantity })),
  );
  const number = mostly(
    fc.oneof(fc.nat(), fc.double({ min: 0, noNaN: true, noDefaultInfinity: true })),
    quantity,
  );
  const stats = fc.record(
    {
      active: flag,
      syncing: flag,
      mining: flag,
      hashrate: number,
      peers: count,
      gasPrice: mostly(count, fc.constant(null)),
      uptime: number,
    },
    { requiredKeys: ["active", "syncing", "peers"] },
  );
  const payload = fc.oneof(
    fc.record({ block, id: text }),
    fc.record({ stats }),
    fc.record({ stats: fc.record({ pending: count }) }),
    fc.record({ latency: mostly(fc.oneof(number, fc.constantFrom("12", "0.5", "007")), quantity) }),
    fc.record({
      clientTime: mostly(fc.oneof(fc.string(), fc.double({ noNaN: true })), fc.oneof(text, quantity)),
    }),
    fc.jsonValue({ maxDepth: 2 }),
  );
  fc.assert(
    fc.property(payload, (raw) => pairs.every(([, schema, fast]) => agrees(schema, fast, raw))),
    { numRuns: 5000 },
  );
  for (const [name, schema] of pairs) {
    assert.ok((taken.get(schema) ?? 0) > 20, `${name}: ${taken.get(schema)} fast reads`);
  }
});
