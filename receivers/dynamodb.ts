/**
 * The `dynamodb` receiver: `block` messages become items of a DynamoDB table.
 *
 * Table layout (created on init when missing, PAY_PER_REQUEST):
 * - HASH key `msg_type` (S): always `"block"`.
 * - RANGE key `msg_id` (S): `${msg_time}#${message.id}`. `message.id` is unique per
 *   accepted report, so two blocks in the same millisecond never overwrite each other, and
 *   a retried write of the same message overwrites itself: a retry is idempotent, so every
 *   message ends up exactly once. It sorts by time like the original's `msg_time`.
 * - `msg_time` (S): ISO-8601 UTC time the service accepted the report.
 * - `payload` (M): `{block: M}`, the block body without `transactions` and `uncles`, as
 *   native DynamoDB maps (not JSON strings). Big numbers that arrive as strings stay S.
 * - `expires_at` (N), only with `ttlDays`: epoch seconds at which DynamoDB's TTL (enabled by the
 *   operator on that attribute) may delete the item.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type BatchWriteItemCommandOutput,
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  type DynamoDBClientConfig,
  type KeySchemaElement,
  type WriteRequest,
} from "@aws-sdk/client-dynamodb";
import { z } from "zod";
import { type Message, payloadBody, payloadType } from "../core/message.ts";
import type { Receiver, ReceiverType } from "../core/receiver.ts";
import { createIsoClock } from "../core/iso_time.ts";

const schema = z.object({
  /** A custom endpoint (DynamoDB Local, dynalite); absent → the region's AWS endpoint. */
  endpoint: z.url().optional(),
  region: z.string().min(1).default("us-east-1"),
  table: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, "must be 3-255 of [A-Za-z0-9_.-]")
    .default("netstat_prod"),
  /** Static credentials, both or neither; absent → the SDK default credential chain. */
  accessKeyId: z.string().min(1).optional(),
  secretAccessKey: z.string().min(1).optional(),
  /** Create the table on init when it is missing, and wait until it is ACTIVE. */
  createTable: z.boolean().default(true),
  /**
   * Items carry `expires_at` (N, epoch seconds) this many days after `msg_time`, for DynamoDB's
   * TTL to delete them once enabled on that attribute; absent → kept for good.
   */
  ttlDays: z.number().positive().max(36_500).optional(),
}).strict().refine(
  (o) => (o.accessKeyId === undefined) === (o.secretAccessKey === undefined),
  { message: "accessKeyId and secretAccessKey must be given together", path: ["accessKeyId"] },
);

/** Options of the `dynamodb` receiver, after defaults. */
export type DynamodbReceiverOptions = z.infer<typeof schema>;

/** DynamoDB's BatchWriteItem limit. */
const BATCH_SIZE = 25;
/** Rounds of BatchWriteItem for one chunk before `receive` throws (the pipeline retries). */
const UNPROCESSED_ATTEMPTS = 8;
const UNPROCESSED_BASE_MS = 50;
const UNPROCESSED_CAP_MS = 1_000;
/** The table must be ACTIVE within this long after CreateTable. */
const ACTIVE_TIMEOUT_MS = 60_000;
/** DynamoDB's item size limit is 400 KB; stay under it so a write is never rejected. */
const MAX_ITEM_BYTES = 400 * 1024 - 1024;
/** DynamoDB allows 32 levels of nested M/L. `payload.block` uses two. */
const MAX_BODY_DEPTH = 30;
/** DynamoDB's longest attribute name (64 KB of UTF-8). */
const MAX_NAME_BYTES = 65_535;

const KEY_SCHEMA: KeySchemaElement[] = [
  { AttributeName: "msg_type", KeyType: "HASH" },
  { AttributeName: "msg_id", KeyType: "RANGE" },
];

/** The `dynamodb` receiver type: `block` messages → items of a DynamoDB table. */
export const dynamodbReceiverType: ReceiverType<typeof schema> = {
  options: schema,
  create: (options, context) => createDynamodbReceiver(context.config.id, options),
};

/** Builds a durable receiver writing `block` messages to DynamoDB (no I/O until used). */
export function createDynamodbReceiver(id: string, options: DynamodbReceiverOptions): Receiver {
  const config: DynamoDBClientConfig = {
    region: options.region,
    // One SDK retry for throttling / 5xx / a dropped connection; beyond that the pipeline's
    // own backoff takes over, so a dead endpoint fails `receive` within seconds.
    maxAttempts: 2,
    requestHandler: {
      connectionTimeout: 2_000,
      requestTimeout: 5_000,
      throwOnRequestTimeout: true,
    },
  };
  if (options.endpoint) config.endpoint = options.endpoint;
  if (options.accessKeyId && options.secretAccessKey) {
    config.credentials = {
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
    };
  }
  const client = new DynamoDBClient(config);
  const table = options.table;
  const counters = { items_written: 0, skipped_malformed: 0, unprocessed_retries: 0 };
  let ready: Promise<void> | undefined = options.createTable ? undefined : Promise.resolve();

  function ensureTable(): Promise<void> {
    // Memoised on success only: a failed init is retried by the next call.
    ready ??= prepareTable(client, table).catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }

  const isoTime = createIsoClock();
  const ttlSeconds = options.ttlDays === undefined ? undefined : Math.round(options.ttlDays * 86_400);

  function toItem(message: Message): Record<string, AttributeValue> | undefined {
    const body = payloadBody(message);
    if (!body) return skip(message, "block body is not an object");
    const { transactions: _t, uncles: _u, ...block } = body;
    const blockValue = toAttribute(block, 0);
    if (!blockValue) {
      return skip(message, `block nests deeper than ${MAX_BODY_DEPTH} levels or has a key over 64 KB`);
    }
    const msgTime = isoTime(message.receivedAt);
    if (msgTime === null) return skip(message, `receivedAt ${message.receivedAt} is not a valid time`);
    const item: Record<string, AttributeValue> = {
      msg_type: { S: "block" },
      msg_id: { S: `${msgTime}#${message.id}` },
      msg_time: { S: msgTime },
      payload: { M: { block: blockValue } },
    };
    if (ttlSeconds !== undefined) {
      item.expires_at = { N: String(Math.floor(message.receivedAt / 1000) + ttlSeconds) };
    }
    if (itemSize(item) > MAX_ITEM_BYTES) return skip(message, "block is larger than 400 KB");
    return item;
  }

  function skip(message: Message, why: string): undefined {
    counters.skipped_malformed++;
    console.warn(
      `receiver ${id}: skipped block from agent ${message.agentId} (message ${message.id}): ${why}`,
    );
    return undefined;
  }

  /**
   * Items stored since the batch they are in last failed (msg_ids): its retry skips them. Under
   * steady throttling a retry rewrote every chunk from the first, and a 500-item batch moved only
   * when all its 20 chunks went through in one pass. Cleared once a batch is written whole.
   */
  const stored = new Set<string>();
  const idOf = (request: WriteRequest) => request.PutRequest!.Item!["msg_id"]!.S!;

  async function writeChunk(requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 0;; attempt++) {
      const out: BatchWriteItemCommandOutput = await client.send(
        new BatchWriteItemCommand({ RequestItems: { [table]: pending } }),
      );
      const unprocessed = out.UnprocessedItems?.[table] ?? [];
      counters.items_written += pending.length - unprocessed.length;
      const left = new Set(unprocessed.map(idOf));
      for (const request of pending) if (!left.has(idOf(request))) stored.add(idOf(request));
      if (unprocessed.length === 0) return;
      if (attempt + 1 >= UNPROCESSED_ATTEMPTS) {
        throw new Error(
          `DynamoDB left ${unprocessed.length} items unprocessed after ${UNPROCESSED_ATTEMPTS} attempts`,
        );
      }
      counters.unprocessed_retries += unprocessed.length;
      pending = unprocessed;
      const cap = Math.min(UNPROCESSED_CAP_MS, UNPROCESSED_BASE_MS * 2 ** attempt);
      await delay(cap / 2 + Math.random() * cap / 2);
    }
  }

  return {
    id,
    durable: true,
    init: ensureTable,
    accepts: (message) => payloadType(message) === "block",
    async receive(batch) {
      // Keyed by msg_id: a message twice in one batch would make BatchWriteItem reject it all.
      const items = new Map<string, Record<string, AttributeValue>>();
      for (const message of batch) {
        if (payloadType(message) !== "block") continue;
        const item = toItem(message);
        if (item) items.set(item["msg_id"]!.S!, item);
      }
      if (items.size === 0) return;
      await ensureTable();
      if (stored.size > 25_000) stored.clear(); // from batches that never came back (spilled)
      const requests: WriteRequest[] = [...items.values()]
        .filter((item) => !stored.has(item["msg_id"]!.S!))
        .map((Item) => ({ PutRequest: { Item } }));
      for (let i = 0; i < requests.length; i += BATCH_SIZE) {
        const chunk = requests.slice(i, i + BATCH_SIZE);
        try {
          await writeChunk(chunk);
        } catch (err) {
          if (errorName(err) === "ResourceNotFoundException" && options.createTable) {
            // The table went away after it was made (deleted; a DynamoDB Local restarted empty):
            // the retry makes it again, where it failed for good before.
            console.warn(`receiver ${id}: table ${table} is gone; creating it again`);
            ready = undefined;
          }
          if (!refused(err)) throw err;
          // DynamoDB refuses the whole batch for an item it will never take: each goes alone, and
          // the ones refused again are skipped and counted instead of blocking the queue for good.
          for (const request of chunk) {
            try {
              await writeChunk([request]);
            } catch (one) {
              if (!refused(one)) throw one;
              counters.skipped_malformed++;
              console.warn(
                `receiver ${id}: skipped block ${
                  request.PutRequest!.Item!["msg_id"]!.S
                }: DynamoDB refused it: ${(one as Error).message}`,
              );
            }
          }
        }
      }
      stored.clear();
    },
    close() {
      client.destroy();
    },
    stats() {
      return { ...counters };
    },
  };
}

/** An error DynamoDB gives for a request it will never take as it is (not a fault of the moment). */
function refused(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === "ValidationException";
}

/** Creates the table if missing and waits until it is ACTIVE; checks the key schema. */
async function prepareTable(client: DynamoDBClient, table: string): Promise<void> {
  const deadline = Date.now() + ACTIVE_TIMEOUT_MS;
  let created = false;
  for (let attempt = 0;; attempt++) {
    const description = await describe(client, table);
    if (!description) {
      if (!created) {
        await create(client, table);
        created = true;
      }
    } else {
      checkKeySchema(table, description.KeySchema ?? []);
      if (description.TableStatus === "ACTIVE") return;
    }
    if (Date.now() >= deadline) {
      throw new Error(`DynamoDB table ${table} is not ACTIVE after ${ACTIVE_TIMEOUT_MS} ms`);
    }
    await delay(Math.min(2_000, 100 * 2 ** attempt));
  }
}

async function describe(client: DynamoDBClient, table: string) {
  try {
    const out = await client.send(new DescribeTableCommand({ TableName: table }));
    return out.Table;
  } catch (err) {
    if (errorName(err) === "ResourceNotFoundException") return undefined;
    throw err;
  }
}

async function create(client: DynamoDBClient, table: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: "PAY_PER_REQUEST",
        KeySchema: KEY_SCHEMA,
        AttributeDefinitions: [
          { AttributeName: "msg_type", AttributeType: "S" },
          { AttributeName: "msg_id", AttributeType: "S" },
        ],
      }),
    );
  } catch (err) {
    // Another instance created it meanwhile: wait for it like for ours.
    if (errorName(err) !== "ResourceInUseException") throw err;
  }
}

function checkKeySchema(table: string, keySchema: KeySchemaElement[]): void {
  const key = (type: string) => keySchema.find((k) => k.KeyType === type)?.AttributeName;
  if (keySchema.length !== 2 || key("HASH") !== "msg_type" || key("RANGE") !== "msg_id") {
    throw new Error(
      `DynamoDB table ${table} has key schema ${
        JSON.stringify(keySchema)
      }; this receiver needs HASH msg_type (S), RANGE msg_id (S)`,
    );
  }
}

/**
 * A JSON-ish value as a DynamoDB attribute: strings stay S (big numbers sent as strings
 * keep every digit), numbers → N, objects → M, arrays → L, null → NULL, booleans → BOOL;
 * undefined object members are dropped. `undefined` when nested too deeply.
 */
function toAttribute(value: unknown, depth: number): AttributeValue | undefined {
  switch (typeof value) {
    case "string":
      return { S: value };
    case "boolean":
      return { BOOL: value };
    case "bigint":
      return { N: value.toString() };
    case "number":
      // N holds 1e-130 ≤ |x| < 1e126; JSON has no NaN/Infinity (JSON.stringify writes null).
      if (!Number.isFinite(value)) return { NULL: true };
      if (value !== 0 && (Math.abs(value) >= 1e126 || Math.abs(value) < 1e-130)) {
        return { S: String(value) };
      }
      return { N: String(value) };
    case "object": {
      if (value === null) return { NULL: true };
      if (value instanceof Uint8Array) return { B: value };
      if (depth >= MAX_BODY_DEPTH) return undefined;
      if (Array.isArray(value)) {
        const list: AttributeValue[] = [];
        for (const element of value) {
          const v = element === undefined ? { NULL: true } : toAttribute(element, depth + 1);
          if (!v) return undefined;
          list.push(v);
        }
        return { L: list };
      }
      const map: Record<string, AttributeValue> = {};
      for (const [k, element] of Object.entries(value)) {
        if (element === undefined) continue;
        if (k.length * 3 > MAX_NAME_BYTES && new TextEncoder().encode(k).byteLength > MAX_NAME_BYTES) {
          return undefined;
        }
        const v = toAttribute(element, depth + 1);
        if (!v) return undefined;
        map[k] = v;
      }
      return { M: map };
    }
    default: // undefined, functions, symbols: not JSON
      return { NULL: true };
  }
}

const encoder = new TextEncoder();

/** DynamoDB's item size rule (names + values, 3 bytes per M/L plus 1 per element), rounded up. */
function itemSize(item: Record<string, AttributeValue>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += encoder.encode(name).length + attributeSize(value);
  }
  return size;
}

function attributeSize(value: AttributeValue): number {
  if (value.S !== undefined) return encoder.encode(value.S).length;
  if (value.N !== undefined) return Math.ceil(value.N.length / 2) + 1;
  if (value.B !== undefined) return value.B.length;
  if (value.L !== undefined) {
    return 3 + value.L.reduce((sum, v) => sum + 1 + attributeSize(v), 0);
  }
  if (value.M !== undefined) return 3 + itemSize(value.M) + Object.keys(value.M).length;
  return 1; // BOOL, NULL
}

function errorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
