import assert from "node:assert/strict";
import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";
import type { Message } from "../core/message.ts";
import { capturing } from "../tests/support/console.ts";
import { type DynaliteHandle, startDynalite } from "../tests/support/dynalite.ts";
import { dynamodbReceiverType } from "./dynamodb.ts";
import type { Receiver } from "../core/receiver.ts";
import { reportMessage } from "../tests/support/fixtures.ts";

/** Fresh each time: the SDK tags a credentials object it is given (adds `$source`). */
function credentials() {
  return { accessKeyId: "test", secretAccessKey: "test" };
}

function tableName(): string {
  return `blocks_${crypto.randomUUID().slice(0, 8)}`;
}

/** Builds the receiver the way the registry does: options through the zod schema. */
async function build(
  endpoint: string,
  table: string,
  extra: Record<string, unknown> = {},
): Promise<Receiver> {
  const options = dynamodbReceiverType.options.parse({ endpoint, table, ...credentials(), ...extra });
  return await dynamodbReceiverType.create(options, {
    config: { id: "dynamo", type: "dynamodb", subscribe: ["ethereum_metrics"] },
    dataDir: "unused",
    postgres: () => Promise.reject(new Error("not used")),
  });
}

function blockMessage(
  body: unknown,
  overrides: Partial<Message> = {},
): Message {
  return reportMessage("agent-1", { type: "block", body }, {
    receivedAt: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    ...overrides,
  });
}

/** An object nested `levels` deep (DynamoDB allows 32). */
function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 0; i < levels; i++) value = { child: value };
  return value;
}

function block(n: number): Record<string, unknown> {
  return {
    number: n,
    hash: `0x${n.toString(16).padStart(64, "0")}`,
    totalDifficulty: "340282366920938463463374607431768211455",
    transactions: [{ hash: "0xaa" }],
    uncles: ["0xbb"],
  };
}

/** Every item of the table, read back with the plain SDK. */
async function items(client: DynamoDBClient, table: string): Promise<Record<string, AttributeValue>[]> {
  const out: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: table,
        KeyConditionExpression: "msg_type = :t",
        ExpressionAttributeValues: { ":t": { S: "block" } },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    );
    out.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return out;
}

interface Fixture {
  dynalite: DynaliteHandle;
  table: string;
  receiver: Receiver;
  /** The plain SDK on the same dynalite. */
  client: DynamoDBClient;
  /** Every item of the table. */
  items(): Promise<Record<string, AttributeValue>[]>;
}

/** A fresh dynalite, a new table name, the receiver on it (`extra` options) and an SDK client; all closed after `fn`. */
async function withReceiver(
  extra: Record<string, unknown>,
  fn: (f: Fixture) => Promise<void>,
): Promise<void> {
  const dynalite = await startDynalite();
  const table = tableName();
  const client = new DynamoDBClient({
    endpoint: dynalite.endpoint,
    region: "us-east-1",
    credentials: credentials(),
  });
  const receiver = await build(dynalite.endpoint, table, extra);
  try {
    await fn({ dynalite, table, receiver, client, items: () => items(client, table) });
  } finally {
    client.destroy();
    await receiver.close?.();
    await dynalite.close();
  }
}

function blockNumbers(all: Record<string, AttributeValue>[]): number[] {
  return all.map((i) => Number(i["payload"]?.M?.["block"]?.M?.["number"]?.N)).sort((a, b) => a - b);
}

Deno.test("dynamodb options: defaults, and credentials come both or neither", () => {
  const options = dynamodbReceiverType.options.parse({});
  assert.deepEqual(options, { region: "us-east-1", table: "netstat_prod", createTable: true });
  assert.equal(dynamodbReceiverType.options.safeParse({ accessKeyId: "a" }).success, false);
  assert.equal(dynamodbReceiverType.options.safeParse({ secretAccessKey: "s" }).success, false);
  assert.equal(dynamodbReceiverType.options.safeParse({ endpoint: "not a url" }).success, false);
  assert.equal(dynamodbReceiverType.options.safeParse({ table: "ab" }).success, false);
  assert.equal(dynamodbReceiverType.options.safeParse({ tabel: "typo" }).success, false);
});

Deno.test("dynamodb receiver creates the missing table, PAY_PER_REQUEST, keyed msg_type + msg_id", async () => {
  await withReceiver({}, async ({ table, receiver, client }) => {
    assert.equal(receiver.durable, true);
    await receiver.init!();
    await receiver.init!(); // idempotent
    const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
    assert.equal(Table?.TableStatus, "ACTIVE");
    assert.equal(Table?.BillingModeSummary?.BillingMode, "PAY_PER_REQUEST");
    assert.deepEqual(Table?.KeySchema, [
      { AttributeName: "msg_type", KeyType: "HASH" },
      { AttributeName: "msg_id", KeyType: "RANGE" },
    ]);
  });
});

Deno.test("dynamodb receiver refuses an existing table with another key schema", async () => {
  await withReceiver({}, async ({ table, receiver, client }) => {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: [
          { AttributeName: "msg_type", KeyType: "HASH" },
          { AttributeName: "msg_time", KeyType: "RANGE" },
        ],
        AttributeDefinitions: [
          { AttributeName: "msg_type", AttributeType: "S" },
          { AttributeName: "msg_time", AttributeType: "S" },
        ],
      }),
    );
    await assert.rejects(receiver.init!(), /needs HASH msg_type \(S\), RANGE msg_id \(S\)/);
  });
});

Deno.test("a block becomes an item of native maps without transactions and uncles", async () => {
  await withReceiver({}, async ({ receiver, items }) => {
    const message = blockMessage({
      number: 123,
      hash: "0xabc",
      difficulty: "131072",
      totalDifficulty: "340282366920938463463374607431768211455",
      gasUsed: 21000.5,
      extraData: "",
      sealFields: ["0x84", "0xb8"],
      parent: { hash: "0xdef", number: 122 },
      author: null,
      finalized: true,
      missing: undefined,
      transactions: [{ hash: "0x1" }],
      uncles: ["0x2"],
    });
    await receiver.receive([message]);
    const all = await items();
    assert.equal(all.length, 1);
    const item = all[0]!;
    assert.deepEqual(Object.keys(item).sort(), ["msg_id", "msg_time", "msg_type", "payload"]);
    assert.deepEqual(item["msg_type"], { S: "block" });
    assert.deepEqual(item["msg_time"], { S: "2024-01-02T03:04:05.678Z" });
    assert.deepEqual(item["msg_id"], { S: `2024-01-02T03:04:05.678Z#${message.id}` });
    assert.deepEqual(Object.keys(item["payload"]!.M!), ["block"]);
    const b = item["payload"]!.M!["block"]!.M!;
    assert.deepEqual(b["number"], { N: "123" });
    assert.deepEqual(b["hash"], { S: "0xabc" });
    assert.deepEqual(b["difficulty"], { S: "131072" });
    assert.deepEqual(b["totalDifficulty"], { S: "340282366920938463463374607431768211455" });
    assert.deepEqual(b["gasUsed"], { N: "21000.5" });
    assert.deepEqual(b["extraData"], { S: "" });
    assert.deepEqual(b["sealFields"], { L: [{ S: "0x84" }, { S: "0xb8" }] });
    assert.deepEqual(b["parent"], { M: { hash: { S: "0xdef" }, number: { N: "122" } } });
    assert.deepEqual(b["author"], { NULL: true });
    assert.deepEqual(b["finalized"], { BOOL: true });
    assert.equal("missing" in b, false);
    assert.equal("transactions" in b, false);
    assert.equal("uncles" in b, false);
    assert.deepEqual(receiver.stats?.(), {
      items_written: 1,
      skipped_malformed: 0,
      unprocessed_retries: 0,
    });
  });
});

Deno.test("with ttlDays an item carries expires_at, epoch seconds that many days after msg_time", async () => {
  assert.equal(dynamodbReceiverType.options.safeParse({ ttlDays: 0 }).success, false);
  await withReceiver({ ttlDays: 90 }, async ({ receiver, items }) => {
    await receiver.receive([blockMessage(block(1))]);
    const [item] = await items();
    // 2024-01-02T03:04:05.678Z (the messages' receivedAt) + 90 days, in whole seconds.
    assert.deepEqual(item!["expires_at"], {
      N: String(Math.floor(Date.UTC(2024, 0, 2, 3, 4, 5) / 1000) + 90 * 86_400),
    });
  });
});

Deno.test("two blocks in the same millisecond from two agents are two items", async () => {
  await withReceiver({}, async ({ receiver, items }) => {
    const at = Date.now();
    await receiver.receive([
      blockMessage(block(1), { agentId: "agent-a", receivedAt: at }),
      blockMessage(block(2), { agentId: "agent-b", receivedAt: at }),
    ]);
    const all = await items();
    assert.equal(all.length, 2);
    assert.deepEqual(blockNumbers(all), [1, 2]);
    assert.equal(new Set(all.map((i) => i["msg_time"]?.S)).size, 1);
  });
});

Deno.test("the same batch written twice (and a message twice in a batch) lands exactly once", async () => {
  await withReceiver({}, async ({ receiver, items }) => {
    const batch = Array.from({ length: 5 }, (_, i) => blockMessage(block(i)));
    await receiver.receive([...batch, batch[0]!]);
    await receiver.receive(batch);
    const all = await items();
    assert.deepEqual(blockNumbers(all), [0, 1, 2, 3, 4]);
  });
});

Deno.test("a batch of 60 blocks is written in chunks of 25, all of it", async () => {
  await withReceiver({}, async ({ receiver, items }) => {
    const batch = Array.from({ length: 60 }, (_, i) => blockMessage(block(i)));
    await receiver.receive(batch);
    const all = await items();
    assert.deepEqual(blockNumbers(all), Array.from({ length: 60 }, (_, i) => i));
    assert.equal(receiver.stats?.()["items_written"], 60);
  });
});

Deno.test("non-block messages are not accepted at push time, and ignored by receive", async () => {
  await withReceiver({}, async ({ dynalite, receiver, items }) => {
    const others: Message[] = [
      blockMessage({ active: true }, { data: { type: "statistics", body: { active: true } } }),
      blockMessage({}, { data: { type: "information", body: { name: "node" } } }),
      blockMessage({}, { data: { body: block(9) } }),
      blockMessage({}, { data: { type: "BLOCK", body: block(9) } }),
    ];
    assert.deepEqual(others.map((m) => receiver.accepts!(m)), [false, false, false, false]);
    assert.equal(receiver.accepts!(blockMessage(block(7))), true);
    await dynalite.stop();
    await receiver.receive(others); // no block: no request at all, not even to create the table
    await dynalite.start();
    await receiver.receive([...others, blockMessage(block(7))]);
    const all = await items();
    assert.deepEqual(blockNumbers(all), [7]);
    assert.deepEqual(receiver.stats?.(), {
      items_written: 1,
      skipped_malformed: 0,
      unprocessed_retries: 0,
    });
  });
});

Deno.test("a block whose body is not an object (or whose time is not one) is skipped, counted and named in a warning", async () => {
  await withReceiver({}, async ({ receiver, items }) => {
    const warnings = await capturing("warn", async (lines) => {
      await receiver.receive([
        blockMessage("not a block", { agentId: "bad-agent" }),
        blockMessage([1, 2], { agentId: "bad-agent" }),
        blockMessage(null, { agentId: "bad-agent" }),
        blockMessage({ extraData: "x".repeat(500 * 1024) }, { agentId: "bad-agent" }),
        blockMessage(deep(40), { agentId: "bad-agent" }),
        blockMessage(block(2), { agentId: "bad-agent", receivedAt: NaN }),
        blockMessage(block(1), { agentId: "good-agent" }),
      ]);
      return lines;
    });
    assert.deepEqual(blockNumbers(await items()), [1]);
    assert.deepEqual(receiver.stats?.(), {
      items_written: 1,
      skipped_malformed: 6,
      unprocessed_retries: 0,
    });
    assert.equal(warnings.length, 6);
    assert.ok(warnings.every((w) => w.includes("bad-agent")), warnings.join("\n"));
  });
});

Deno.test("a block DynamoDB refuses (ValidationException) is skipped and counted; the rest of its batch is written", async () => {
  await withReceiver({}, async ({ dynalite, table, receiver: direct, items }) => {
    await direct.init!(); // the table, straight on dynalite
    // DynamoDB refuses items dynalite takes (an attribute name over 64 KB, a number it cannot hold
    // when written by another client…): this proxy answers as DynamoDB does for a batch holding one.
    const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const body = await req.text();
      if (body.includes("refused-by-dynamodb")) {
        return new Response(
          JSON.stringify({
            __type: "com.amazon.coral.validate#ValidationException",
            message: "One or more parameter values were invalid",
          }),
          { status: 400, headers: { "content-type": "application/x-amz-json-1.0" } },
        );
      }
      return fetch(dynalite.endpoint, { method: "POST", headers: req.headers, body });
    });
    const receiver = await build(`http://127.0.0.1:${proxy.addr.port}`, table);
    try {
      // An attribute name over 64 KB is known before any request: skipped at once.
      const longName = { ...block(9), ["k".repeat(70_000)]: 1 };
      const warnings = await capturing("warn", async (lines) => {
        await receiver.receive([
          blockMessage(block(1)),
          blockMessage({ ...block(2), note: "refused-by-dynamodb" }),
          blockMessage(block(3)),
          blockMessage(longName),
        ]);
        return lines;
      });
      assert.deepEqual(blockNumbers(await items()), [1, 3]);
      assert.deepEqual(receiver.stats?.(), {
        items_written: 2,
        skipped_malformed: 2,
        unprocessed_retries: 0,
      });
      assert.equal(warnings.length, 2, warnings.join("\n"));
    } finally {
      await receiver.close?.();
      await proxy.shutdown();
    }
  });
});

Deno.test("DynamoDB down: receive rejects within seconds; after restart a retry lands exactly once", async () => {
  await withReceiver({}, async ({ dynalite, receiver, items }) => {
    const before = Array.from({ length: 3 }, (_, i) => blockMessage(block(i)));
    await receiver.receive(before);

    await dynalite.stop();
    const batch = Array.from({ length: 30 }, (_, i) => blockMessage(block(100 + i)));
    const started = performance.now();
    await assert.rejects(async () => await receiver.receive(batch));
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 5_000, `rejected after ${elapsed} ms`);

    await dynalite.start();
    await receiver.receive(batch); // what the pipeline does: the same batch again
    await receiver.receive(batch.slice(0, 10)); // and a duplicate replay for good measure
    const all = await items();
    assert.deepEqual(blockNumbers(all), [
      0,
      1,
      2,
      ...Array.from({ length: 30 }, (_, i) => 100 + i),
    ]);
  });
});

Deno.test("a table that cannot be created makes init reject, and a later init succeeds", async () => {
  await withReceiver({}, async ({ dynalite, receiver, items }) => {
    await dynalite.stop();
    await assert.rejects(receiver.init!());
    await dynalite.start();
    await receiver.init!();
    await receiver.receive([blockMessage(block(1))]);
    assert.deepEqual(blockNumbers(await items()), [1]);
  });
});

Deno.test("with createTable false a missing table makes receive reject", async () => {
  await withReceiver({ createTable: false }, async ({ receiver }) => {
    await assert.rejects(async () => await receiver.receive([blockMessage(block(1))]), {
      name: "ResourceNotFoundException",
    });
  });
});

/**
 * A stand-in DynamoDB answering BatchWriteItem with the first `unprocessedRounds` responses
 * leaving every item unprocessed (dynalite never does that).
 */
function fakeDynamo(unprocessedRounds: number) {
  const state = { calls: 0, sizes: [] as number[] };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const target = req.headers.get("x-amz-target") ?? "";
    const body = await req.json();
    if (!target.endsWith(".BatchWriteItem")) return new Response("unexpected", { status: 500 });
    state.calls++;
    const [table, requests] = Object.entries(body.RequestItems)[0]! as [string, unknown[]];
    state.sizes.push(requests.length);
    const unprocessed = state.calls <= unprocessedRounds ? { [table]: requests } : {};
    return new Response(JSON.stringify({ UnprocessedItems: unprocessed }), {
      headers: { "content-type": "application/x-amz-json-1.0" },
    });
  });
  return { endpoint: `http://127.0.0.1:${server.addr.port}`, state, close: () => server.shutdown() };
}

Deno.test("unprocessed items are retried with backoff until DynamoDB takes them", async () => {
  const fake = fakeDynamo(2);
  const receiver = await build(fake.endpoint, tableName(), { createTable: false });
  try {
    await receiver.receive(Array.from({ length: 30 }, (_, i) => blockMessage(block(i))));
    assert.deepEqual(fake.state.sizes, [25, 25, 25, 5]);
    assert.deepEqual(receiver.stats?.(), {
      items_written: 30,
      skipped_malformed: 0,
      unprocessed_retries: 50,
    });
  } finally {
    await receiver.close?.();
    await fake.close();
  }
});

Deno.test("items still unprocessed after the bounded attempts make receive reject", async () => {
  const fake = fakeDynamo(Infinity);
  const receiver = await build(fake.endpoint, tableName(), { createTable: false });
  try {
    const started = performance.now();
    await assert.rejects(
      async () => await receiver.receive([blockMessage(block(1))]),
      /unprocessed after 8 attempts/,
    );
    assert.ok(performance.now() - started < 10_000);
    assert.equal(fake.state.calls, 8);
    assert.equal(receiver.stats?.()["items_written"], 0);
  } finally {
    await receiver.close?.();
    await fake.close();
  }
});

Deno.test("a batch failed by throttling part-way is retried from where it stopped, not from its first chunk", async () => {
  // 60 blocks: chunks of 25, 25 and 10; the 10 are throttled twice (the SDK's own two attempts).
  let throttled = 0;
  const sizes: number[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.json();
    const requests = Object.values(body.RequestItems)[0] as unknown[];
    sizes.push(requests.length);
    if (requests.length === 10 && throttled < 2) {
      throttled++;
      return new Response(
        JSON.stringify({
          __type: "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
          message: "throttled",
        }),
        { status: 400, headers: { "content-type": "application/x-amz-json-1.0" } },
      );
    }
    return new Response(JSON.stringify({ UnprocessedItems: {} }), {
      headers: { "content-type": "application/x-amz-json-1.0" },
    });
  });
  const receiver = await build(`http://127.0.0.1:${server.addr.port}`, tableName(), { createTable: false });
  try {
    const batch = Array.from({ length: 60 }, (_, i) => blockMessage(block(i)));
    await assert.rejects(async () => await receiver.receive(batch), /throttled/);
    await receiver.receive(batch); // the pipeline's retry
    // Before: [25, 25, 10, 10, 25, 25, 10]: every chunk again.
    assert.deepEqual(sizes, [25, 25, 10, 10, 10]);
    assert.equal(receiver.stats?.()["items_written"], 60);
  } finally {
    await receiver.close?.();
    await server.shutdown();
  }
});

Deno.test("a table deleted after it was made (DynamoDB Local restarted empty) is made again by the retry", async () => {
  await withReceiver({}, async ({ table, receiver, client, items }) => {
    await receiver.init!();
    await receiver.receive([blockMessage(block(1))]);
    await client.send(new DeleteTableCommand({ TableName: table }));
    for (let i = 0; i < 100; i++) {
      if (!(await client.send(new DescribeTableCommand({ TableName: table })).catch(() => null))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    // The runner retries a failed batch: before, every retry failed (ResourceNotFoundException).
    const warned = await capturing("warn", async (lines) => {
      await assert.rejects(
        async () => await receiver.receive([blockMessage(block(2))]),
        /not found|ResourceNotFound/i,
      );
      return lines;
    });
    await receiver.receive([blockMessage(block(2))]);
    assert.deepEqual(blockNumbers(await items()), [2]);
    assert.match(warned.join("\n"), new RegExp(`table ${table} is gone; creating it again`));
  });
});
