import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { decodeBytes, decodeUtf8, encodingOf } from "./body.ts";
import {
  jsonShape,
  MAX_CONTAINERS,
  MAX_DEPTH,
  MAX_KEY_NAMES,
  msgpackShape,
  parseJson,
  TOO_DEEP,
  TOO_MANY,
} from "./body_shape.ts";
import { AppError } from "./errors.ts";

/** The reference: whether a decoded value nests deeper than `max` arrays/objects. */
function tooDeep(value: unknown, max = MAX_DEPTH): boolean {
  return value !== null && typeof value === "object" && deeperThan(value, 0, max);
}

function deeperThan(value: object, depth: number, max: number): boolean {
  if (depth >= max) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const child: unknown = value[i];
      if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, max)) return true;
    }
    return false;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const child = record[key];
    if (child !== null && typeof child === "object" && deeperThan(child, depth + 1, max)) return true;
  }
  return false;
}

Deno.test("encodingOf accepts JSON and msgpack content types only", () => {
  assert.equal(encodingOf("application/json; charset=utf-8"), "json");
  assert.equal(encodingOf("application/x-msgpack"), "msgpack");
  assert.equal(encodingOf("text/plain"), null);
  assert.equal(encodingOf(undefined), null);
});

Deno.test("msgpack values become JSON-compatible: timestamps as ISO strings, 64-bit integers as numbers", () => {
  const when = new Date("2024-05-01T00:00:00.000Z");
  const value = decodeBytes(encode({ a: [{ when }], big: 2n ** 40n }, { useBigInt64: true }), "msgpack") as {
    a: Array<{ when: string }>;
    big: unknown;
  };
  assert.equal(value.a[0]!.when, "2024-05-01T00:00:00.000Z");
  assert.equal(value.big, 2 ** 40);
});

/** The status and code of the AppError `fn` throws; null when it throws none. */
function code(fn: () => unknown): [number, string] | null {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof AppError);
    return [err.status, err.code];
  }
  return null;
}

/** A msgpack map of `n` keys `k0`… packed as bin 8 (as Python 2 agents with use_bin_type pack strings), values 0. */
function binKeyed(n: number): Uint8Array {
  const parts: number[] = [0xdf, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
  for (let i = 0; i < n; i++) {
    const key = new TextEncoder().encode(`k${i}`);
    parts.push(0xc4, key.length, ...key, 0x00);
  }
  return new Uint8Array(parts);
}

Deno.test("msgpack bin is text as the original read it (UTF-8 only); over-deep bodies 422; undecodable bytes 400", () => {
  // Before: 422 "binary values are not accepted" (the original, Msgpax, took them as strings).
  const text = new TextEncoder().encode("agent-é");
  assert.deepEqual(decodeBytes(encode({ id: text, list: [text] }), "msgpack"), {
    id: "agent-é",
    list: ["agent-é"],
  });
  assert.deepEqual(decodeBytes(binKeyed(2), "msgpack"), { k0: 0, k1: 0 });
  assert.deepEqual(code(() => decodeBytes(encode({ blob: new Uint8Array([0xff, 2]) }), "msgpack")), [
    400,
    "malformed_body",
  ]);
  const notUtf8Key = binKeyed(1);
  notUtf8Key[notUtf8Key.length - 2] = 0xff; // the key's last byte
  assert.deepEqual(code(() => decodeBytes(notUtf8Key, "msgpack")), [400, "malformed_body"]);
  let deep: unknown = 1;
  for (let i = 0; i < MAX_DEPTH + 1; i++) deep = [deep];
  assert.ok(tooDeep(deep));
  assert.deepEqual(code(() => decodeBytes(new TextEncoder().encode(JSON.stringify(deep)), "json")), [
    422,
    "too_deep",
  ]);
  assert.deepEqual(code(() => decodeBytes(new TextEncoder().encode("{"), "json")), [400, "malformed_body"]);
  assert.deepEqual(code(() => decodeBytes(new Uint8Array([0xc1]), "msgpack")), [400, "malformed_body"]);
  assert.deepEqual(decodeBytes(new Uint8Array(0), "json"), {});
});

Deno.test("a msgpack timestamp beyond what a Date holds is 422, not a 500", () => {
  // {"id": timestamp 96 with 2^62 seconds}: decodes to an invalid Date (toISOString throws).
  const body = new Uint8Array([
    0x81,
    0xa2,
    0x69,
    0x64,
    0xc7,
    0x0c,
    0xff,
    0,
    0,
    0,
    0,
    0x40,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual(code(() => decodeBytes(body, "msgpack")), [422, "invalid_body"]);
  const nested = encode({ data: { list: [1, new Date(8.64e15)] } }); // the largest valid one passes
  assert.deepEqual(decodeBytes(nested, "msgpack"), { data: { list: [1, "+275760-09-13T00:00:00.000Z"] } });
});

Deno.test("jsonShape and parseJson agree with tooDeep on the parsed value", () => {
  const verdicts = (
    text: string,
    max = MAX_DEPTH,
  ) => [jsonShape(text, max) === "too_deep", parseJson(text, max) === TOO_DEEP];
  const nest = (levels: number, inner: unknown, asObject: boolean): unknown => {
    let v = inner;
    for (let i = 0; i < levels; i++) v = asObject ? { k: v, s: '}]\\"[{' } : [v, '"[', "\\"];
    return v;
  };
  // The boundary, with strings full of brackets, quotes and backslashes around it.
  for (const levels of [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1]) {
    for (const asObject of [false, true]) {
      for (const inner of [1, "[[[{", [], {}, '\\\\"{']) {
        const value = nest(levels, inner, asObject);
        const expected = tooDeep(value);
        assert.deepEqual(
          verdicts(JSON.stringify(value)),
          [expected, expected],
          `levels ${levels}, ${JSON.stringify(inner)}`,
        );
      }
    }
  }
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, max) => {
      const expected = tooDeep(value, max);
      return verdicts(JSON.stringify(value), max).every((v) => v === expected);
    }),
    { numRuns: 2000 },
  );
  // parseJson gives the value back when it is not too deep.
  assert.deepEqual(parseJson('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
  assert.deepEqual(parseJson(JSON.stringify(nest(MAX_DEPTH - 1, [], true))), nest(MAX_DEPTH - 1, [], true));
});

Deno.test("a text that nests too deep never reaches JSON.parse, however short", () => {
  const parse = JSON.parse;
  let parsed = 0;
  JSON.parse = (...args: Parameters<typeof JSON.parse>) => (parsed++, parse(...args));
  try {
    // 32 KiB nested 16,383 deep would cost milliseconds to build: refused by the scan instead.
    const levels = 16_383;
    assert.equal(parseJson("[".repeat(levels) + "1" + "]".repeat(levels)), TOO_DEEP);
    assert.equal(parseJson("[".repeat(MAX_DEPTH + 1) + "]".repeat(MAX_DEPTH + 1)), TOO_DEEP);
    assert.equal(parsed, 0);
    // Many brackets that do not nest (or sit in strings): scanned, then parsed.
    assert.equal(
      (parseJson(JSON.stringify({ list: Array(200).fill([]), s: "[".repeat(100) })) as { list: [] }).list
        .length,
      200,
    );
    assert.equal(parsed, 1);
  } finally {
    JSON.parse = parse;
  }
});

Deno.test("decodeUtf8 refuses invalid UTF-8 and keeps a real U+FFFD", () => {
  const enc = new TextEncoder();
  assert.equal(decodeUtf8(enc.encode('{"a":"\uFFFD é"}')), '{"a":"\uFFFD é"}');
  assert.equal(decodeUtf8(enc.encode("\uFEFF{}")), "{}"); // a BOM is dropped, as before
  for (const bad of [[0x7b, 0xff, 0x7d], [0x22, 0xc3], [0xed, 0xa0, 0x80], [0xef, 0xbf, 0xbd, 0x80]]) {
    assert.throws(() => decodeUtf8(new Uint8Array(bad)), TypeError, JSON.stringify(bad));
    assert.deepEqual(code(() => decodeBytes(new Uint8Array(bad), "json")), [400, "malformed_body"]);
  }
});

Deno.test("msgpackShape on the bytes agrees with tooDeep on the decoded value, for every msgpack type", () => {
  for (const levels of [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1]) {
    for (const asMap of [false, true]) {
      let v: unknown = asMap ? {} : [];
      for (let i = 1; i < levels; i++) {
        v = asMap ? { k: v, big: "x".repeat(300), n: -(2 ** 40) } : [1.5, v, new Date(0)];
      }
      assert.equal(msgpackShape(encode(v)) === "too_deep", tooDeep(v), `levels ${levels}`);
    }
  }
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.integer(),
      fc.double(),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.string({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 70_000 }).map((b) => b.length > 70 ? b.subarray(0, 70) : b),
      fc.constant(null),
      fc.boolean(),
      fc.date({ noInvalidDate: true }),
      fc.array(tie("node"), { maxLength: 20 }),
      fc.dictionary(fc.string({ maxLength: 10 }), tie("node"), { maxKeys: 20 }),
    ),
  })).node;
  fc.assert(
    fc.property(value, fc.integer({ min: 1, max: 8 }), (v, max) => {
      const bytes = encode(v, { useBigInt64: true });
      // binary, timestamps and 64-bit integers are scalars in msgpack (and after normalizing)
      const scalars = JSON.parse(
        JSON.stringify(v, (_k, x) => typeof x === "bigint" || x instanceof Uint8Array ? "scalar" : x),
      );
      return (msgpackShape(bytes, max) === "too_deep") === tooDeep(scalars, max);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("msgpack extension values count as objects (8 MB of 3-byte ones was 2.6 million of them); only timestamps are taken", () => {
  // array32 of `count` copies of `unit`
  const arrayOf = (count: number, unit: number[]) => {
    const bytes = new Uint8Array(5 + count * unit.length);
    bytes[0] = 0xdd;
    new DataView(bytes.buffer).setUint32(1, count);
    for (let i = 0; i < count; i++) bytes.set(unit, 5 + i * unit.length);
    return bytes;
  };
  const fixext1 = [0xd4, 0x01, 0x41]; // type 1, one byte of data
  const timestamp32 = [0xd6, 0xff, 0, 0, 0, 1]; // type -1: 1970-01-01T00:00:01Z
  for (const unit of [fixext1, timestamp32]) {
    const count = Math.floor(8_000_000 / unit.length);
    assert.deepEqual(code(() => decodeBytes(arrayOf(count, unit), "msgpack")), [422, "too_many_values"]);
  }
  assert.deepEqual(decodeBytes(arrayOf(2, timestamp32), "msgpack"), [
    "1970-01-01T00:00:01.000Z",
    "1970-01-01T00:00:01.000Z",
  ]);
  // Another extension type has no JSON meaning: 422, where it was kept as {type, data}.
  assert.deepEqual(code(() => decodeBytes(arrayOf(1, fixext1), "msgpack")), [422, "invalid_body"]);
  assert.deepEqual(code(() => decodeBytes(new Uint8Array([0x81, 0xa1, 0x78, ...fixext1]), "msgpack")), [
    422,
    "invalid_body",
  ]);
  // Arrays of scalars are walked by index, their values kept as they are.
  assert.deepEqual(
    decodeBytes(encode({ list: [0, 1, true, null, "x", [2, { a: new Date(0) }]] }), "msgpack"),
    {
      list: [0, 1, true, null, "x", [2, { a: "1970-01-01T00:00:00.000Z" }]],
    },
  );
});

Deno.test("a body nested a million levels deep is 422 too_deep, refused before it is decoded", () => {
  const levels = 1_000_000;
  const msgpack = new Uint8Array(levels + 1).fill(0x91); // fixarray of one, a million times
  msgpack[levels] = 0x01;
  const json = new TextEncoder().encode("[".repeat(levels) + "1" + "]".repeat(levels));
  for (const [bytes, encoding] of [[msgpack, "msgpack"], [json, "json"]] as const) {
    assert.throws(
      () => decodeBytes(bytes, encoding),
      (err) => err instanceof AppError && err.code === "too_deep",
    );
  }
});

/** Objects and arrays in a decoded value. */
function containers(value: unknown): number {
  if (value === null || typeof value !== "object") return 0;
  let n = 1;
  for (const child of Object.values(value)) n += containers(child);
  return n;
}

Deno.test("a body of more than MAX_CONTAINERS objects and arrays is 422 too_many_values, before it is decoded", () => {
  // A top-level array of n empty maps: n + 1 containers, one byte (msgpack) or three characters each.
  const msgpackOf = (n: number) => {
    const bytes = new Uint8Array(5 + n).fill(0x80);
    bytes.set([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    return bytes;
  };
  const jsonOf = (n: number) => new TextEncoder().encode(`[${Array(n).fill("{}").join(",")}]`);
  for (const [encode, encoding] of [[msgpackOf, "msgpack"], [jsonOf, "json"]] as const) {
    assert.equal((decodeBytes(encode(MAX_CONTAINERS - 1), encoding) as unknown[]).length, MAX_CONTAINERS - 1);
    assert.deepEqual(code(() => decodeBytes(encode(MAX_CONTAINERS), encoding)), [422, "too_many_values"]);
  }
  // A large body whose objects carry content (a history of transactions as {"hash"}) is allowed
  // one per 16 bytes: 150,000 of them here.
  const hashes = `[${
    Array.from({ length: 150_000 }, (_, i) => `{"hash":"0x${i.toString(16).padStart(64, "0")}"}`)
  }]`;
  assert.equal((decodeBytes(new TextEncoder().encode(hashes), "json") as unknown[]).length, 150_000);
  assert.equal(jsonShape(`[${Array(150_000).fill('{"a":1}').join(",")}]`), "too_many");
  // Brackets inside strings are not containers.
  const text = JSON.stringify({ s: "[{".repeat(MAX_CONTAINERS) });
  assert.equal(jsonShape(text), null);
  assert.equal(parseJson(text) === TOO_MANY, false);
});

Deno.test("a body of more distinct keys than its size allows is 422 too_many_values before it is decoded (each costs V8 1-2 µs)", () => {
  const keys = (n: number, from = 0) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${(from + i).toString(36)}`, 1]));
  // One flat map, and the same keys spread over small maps: 880,000 keys, 6-7 MB.
  const flat = keys(880_000);
  const spread = Array.from({ length: 88_000 }, (_, m) => keys(10, m * 10));
  for (const value of [flat, spread]) {
    for (
      const [bytes, encoding] of [[encode(value), "msgpack"], [
        new TextEncoder().encode(JSON.stringify(value)),
        "json",
      ]] as const
    ) {
      // Before: decoded, 1.4-2.3 s of a blocked event loop for msgpack, 0.5-0.9 s for JSON.
      assert.deepEqual(code(() => decodeBytes(bytes, encoding)), [422, "too_many_values"]);
    }
  }
  // Names within the bound: MAX_KEY_NAMES different ones in a small body, and one more is refused
  // (99,000 distinct keys in 0.7 MB blocked the loop 150 ms under the first version's bound), also
  // behind a long padding string (an 8 MB body held 250,000 under the second version's one per 32
  // bytes: 350-500 ms).
  const pad = "p".repeat(7_000_000);
  for (const [n, ok] of [[MAX_KEY_NAMES, true], [MAX_KEY_NAMES + 1, false]] as const) {
    for (const value of [keys(n), { ...keys(n - 1), pad }]) { // n names each
      for (const bytes of [encode(value), new TextEncoder().encode(JSON.stringify(value))]) {
        const encoding = bytes[0] === 0x7b ? "json" : "msgpack";
        if (ok) assert.equal(Object.keys(decodeBytes(bytes, encoding) as object).length, n);
        else assert.deepEqual(code(() => decodeBytes(bytes, encoding)), [422, "too_many_values"]);
      }
    }
  }
  // bin keys count as names too.
  assert.equal(Object.keys(decodeBytes(binKeyed(MAX_KEY_NAMES), "msgpack") as object).length, MAX_KEY_NAMES);
  assert.deepEqual(code(() => decodeBytes(binKeyed(MAX_KEY_NAMES + 1), "msgpack")), [422, "too_many_values"]);
  // Many keys of a few names are cheap (~0.08 µs each) and allowed, as many as containers.
  const repeated = Array.from({ length: 30_000 }, (_, i) => ({ a: i, b: i, c: i })); // 90,000 keys
  for (const bytes of [encode(repeated), new TextEncoder().encode(JSON.stringify(repeated))]) {
    const encoding = bytes[0] === 0x5b ? "json" : "msgpack";
    assert.equal((decodeBytes(bytes, encoding) as unknown[]).length, 30_000);
  }
  // A POA agent's 41-block history with 200 full transactions each (14 keys, ~43 bytes per key,
  // 5 MB), and with EIP-1559 transactions (20 keys, ~30 bytes per key in msgpack): accepted (the
  // first versions' one key per 64, then per 32, bytes refused them).
  const hex = (n: number, width: number) => "0x" + n.toString(16).padStart(width, "0");
  const history = Array.from({ length: 41 }, (_, b) => ({
    number: 1000 + b,
    hash: hex(b, 64),
    transactions: Array.from({ length: 200 }, (_, t) => ({
      blockHash: hex(b, 64),
      blockNumber: hex(1000 + b, 0),
      from: hex(t, 40),
      gas: "0x5208",
      gasPrice: "0x3b9aca00",
      hash: hex(b * 1000 + t, 64),
      input: "0x",
      nonce: hex(t, 0),
      to: hex(t + 1, 40),
      transactionIndex: hex(t, 0),
      value: "0xde0b6b3a7640000",
      v: "0x1b",
      r: hex(t * 7, 64),
      s: hex(t * 11, 64),
    })),
  }));
  const eip1559 = history.map((block) => ({
    ...block,
    transactions: block.transactions.map((tx) => ({
      ...tx,
      type: "0x2",
      chainId: "0x64",
      maxFeePerGas: "0x77359400",
      maxPriorityFeePerGas: "0x3b9aca00",
      accessList: [],
      yParity: "0x1",
    })),
  }));
  for (const value of [{ history }, { history: eip1559 }]) {
    for (const bytes of [encode(value), new TextEncoder().encode(JSON.stringify(value))]) {
      const encoding = bytes[0] === 0x7b ? "json" : "msgpack";
      assert.equal((decodeBytes(bytes, encoding) as { history: unknown[] }).history.length, 41);
    }
  }
  // A map key that is not UTF-8 is malformed (the library read "a\xffb" as "aÿb").
  assert.deepEqual(code(() => decodeBytes(new Uint8Array([0x81, 0xa3, 0x61, 0xff, 0x62, 0x01]), "msgpack")), [
    400,
    "malformed_body",
  ]);
  // String values too, short (the library's own decoder) and long (its TextDecoder): before, "U8\xc3\x28"
  // was "U8è", the same agent id as the valid "U8\xc3\xa8", and long ones had U+FFFD put in.
  const idOf = (bytes: number[]) => new Uint8Array([0x81, 0xa2, 0x69, 0x64, 0xa0 + bytes.length, ...bytes]);
  for (const bad of [[0x55, 0x38, 0xc3, 0x28], [0x55, 0x38, 0xff, 0xfe], [0xed, 0xa0, 0x80]]) {
    assert.deepEqual(code(() => decodeBytes(idOf(bad), "msgpack")), [400, "malformed_body"]);
  }
  assert.deepEqual(decodeBytes(idOf([0x55, 0x38, 0xc3, 0xa8]), "msgpack"), { id: "U8è" });
  const long = encode({ id: "é".repeat(300) });
  assert.deepEqual(decodeBytes(long, "msgpack"), { id: "é".repeat(300) });
  long[long.length - 1] = 0x28; // the last é's second byte
  assert.deepEqual(code(() => decodeBytes(long, "msgpack")), [400, "malformed_body"]);
  const longKey = encode({ ["k".repeat(70) + "é"]: 1 });
  assert.equal(Object.keys(decodeBytes(longKey, "msgpack") as object)[0], "k".repeat(70) + "é");
  longKey[longKey.length - 2] = 0xff; // a key past the cache's 64 bytes
  assert.deepEqual(code(() => decodeBytes(longKey, "msgpack")), [400, "malformed_body"]);
  // Colons inside strings are not keys: a long text with many is parsed.
  const times = JSON.stringify({ t: Array(200_000).fill("12:00:00") });
  assert.equal((decodeBytes(new TextEncoder().encode(times), "json") as { t: string[] }).t.length, 200_000);
});

Deno.test("jsonShape and msgpackShape count containers as a walk of the decoded value does", () => {
  const value = fc.letrec((tie) => ({
    node: fc.oneof(
      { depthSize: "small" },
      fc.integer(),
      fc.string({ maxLength: 20 }),
      fc.constant(null),
      fc.array(tie("node"), { maxLength: 8 }),
      fc.dictionary(fc.string({ maxLength: 5 }), tie("node"), { maxKeys: 8 }),
    ),
  })).node;
  fc.assert(
    fc.property(value, fc.integer({ min: 0, max: 30 }), (v, max) => {
      const many = containers(v) > max;
      const depthOk = !tooDeep(v);
      return !depthOk ||
        ((jsonShape(JSON.stringify(v), MAX_DEPTH, max) === "too_many") === many &&
          (msgpackShape(encode(v), MAX_DEPTH, max) === "too_many") === many);
    }),
    { numRuns: 2000 },
  );
});

Deno.test("tooDeep counts arrays and objects alike and allows exactly MAX_DEPTH levels", () => {
  const nest = (levels: number, wrap: (inner: unknown) => unknown) => {
    let v: unknown = "leaf";
    for (let i = 0; i < levels; i++) v = wrap(v);
    return v;
  };
  for (const wrap of [(x: unknown) => [x], (x: unknown) => ({ k: x })]) {
    assert.equal(tooDeep(nest(MAX_DEPTH, wrap)), false);
    assert.equal(tooDeep(nest(MAX_DEPTH + 1, wrap)), true);
  }
  // Mixed: each wrap is an array holding an object, two levels.
  const mixed = (x: unknown) => [1, { a: null, b: x }];
  assert.equal(tooDeep(nest(MAX_DEPTH / 2, mixed)), false);
  assert.equal(tooDeep([nest(MAX_DEPTH / 2, mixed)]), true);
  // A deep branch after shallow siblings is still found; scalars and null are depth 0.
  assert.equal(tooDeep({ a: [1, 2, 3], b: { c: {} }, d: nest(MAX_DEPTH, (x) => [x]) }), true);
  for (const v of [null, 1, "s", true, undefined, [], {}]) assert.equal(tooDeep(v), false);
  assert.equal(tooDeep(nest(3, (x) => [x]), 3), false);
  assert.equal(tooDeep(nest(4, (x) => [x]), 3), true);
});

Deno.test("a truncated msgpack container (its header declaring more elements than bytes follow) is 400, not 422", () => {
  // `\xdf\xff\xff\xff\xff`: a map of 2^32 entries and nothing after it was 422 too_many_values.
  for (const bytes of [[0xdf, 0xff, 0xff, 0xff, 0xff], [0xdd, 0, 1, 0, 0, 0x80], [0x83, 0xa1, 0x61]]) {
    assert.deepEqual(
      code(() => decodeBytes(new Uint8Array(bytes), "msgpack"))?.[0],
      400,
      JSON.stringify(bytes),
    );
  }
});

Deno.test("a truncated msgpack map with an odd number of bytes left still has its key names counted: 422 before decoding", () => {
  // 7 MB of bin padding (so its keys stay within the containers allowed), then a map32 declaring
  // 2^31 - 1 entries followed by 166,000 distinct keys and one byte more: the clamped count was odd,
  // the names pass took keys for values, and the decoder built every key (600 ms) before its 400.
  const pairs = 166_000;
  const bytes = new Uint8Array(1 + 5 + 7_000_000 + 5 + pairs * 6 + 1);
  bytes.set([0x92, 0xc6, 0x00, 0x6a, 0xcf, 0xc0]); // fixarray 2, bin32 of 7,000,000 bytes
  let pos = 6 + 7_000_000;
  bytes.set([0xdf, 0x7f, 0xff, 0xff, 0xff], pos);
  pos += 5;
  for (let i = 0; i < pairs; i++) {
    const key = i.toString(36).padStart(4, "0");
    bytes.set([0xa4, ...new TextEncoder().encode(key), 0x00], pos);
    pos += 6;
  }
  assert.deepEqual(code(() => decodeBytes(bytes, "msgpack")), [422, "too_many_values"]);
});
