/** Maps a receiver config `type` to its options schema and factory. */
import type { ReceiverConfig } from "../core/config.ts";
import { ConfigError } from "../core/config.ts";
import { describeZodError } from "../http/validation.ts";
import { alertsReceiverType } from "./alerts.ts";
import { dashboardReceiverType } from "./dashboard.ts";
import { dynamodbReceiverType } from "./dynamodb.ts";
import { ethStatsReceiverType } from "./eth_stats.ts";
import { jsonlReceiverType } from "./jsonl.ts";
import { systemStatsReceiverType } from "./system_stats.ts";
import type { Receiver, ReceiverContext, ReceiverType } from "../core/receiver.ts";
import { webReceiverType } from "../web_dashboard/receiver.ts";

/** Receiver types by config `type`. Adding a receiver: one file and one line here. */
export function builtinReceiverTypes(): Map<string, ReceiverType> {
  return new Map<string, ReceiverType>([
    ["alerts", alertsReceiverType],
    ["dashboard", dashboardReceiverType],
    ["dynamodb", dynamodbReceiverType],
    ["eth_stats", ethStatsReceiverType],
    ["jsonl", jsonlReceiverType],
    ["system_stats", systemStatsReceiverType],
    ["web", webReceiverType],
  ]);
}

/**
 * Checks every receiver entry before anything starts (main.ts): a known type, and options its type
 * takes. A typo is one line and exit code 2, and nothing is written: a bad option found while the
 * receivers were built had left `admin-password`, `poa.kv` and `service.lock` in a fresh data dir.
 */
export function checkReceivers(types: ReadonlyMap<string, ReceiverType>, entries: ReceiverConfig[]): void {
  entries.forEach((entry, index) => parseOptions(types, entry, index));
}

/** A receiver entry's options as its type's schema parses them; a ConfigError naming the key if not. */
function parseOptions(types: ReadonlyMap<string, ReceiverType>, entry: ReceiverConfig, index: number) {
  const type = types.get(entry.type);
  if (!type) throw unknownType(types, entry, index);
  const { id: _id, type: _type, subscribe: _subscribe, ...rest } = entry;
  const parsed = type.options.safeParse(rest);
  if (!parsed.success) {
    throw new ConfigError(`invalid config: ${describeZodError(parsed.error, `receivers.${index}.`)}`);
  }
  return { type, options: parsed.data };
}

function unknownType(
  types: ReadonlyMap<string, ReceiverType>,
  entry: ReceiverConfig,
  index: number,
): ConfigError {
  return new ConfigError(
    `invalid config: receivers.${index}.type: unknown receiver type "${entry.type}" (known: ${
      [...types.keys()].join(", ")
    })`,
  );
}

/** Whether some receiver entry needs Postgres to start (its type's `needsPostgres`). */
export function receiversNeedPostgres(
  types: ReadonlyMap<string, ReceiverType>,
  entries: ReceiverConfig[],
): boolean {
  return entries.some((entry, index) => {
    const { type, options } = parseOptions(types, entry, index);
    return type.needsPostgres?.(options) ?? false;
  });
}

/** Validates a receiver entry against its type's schema and builds it. */
export async function buildReceiver(
  types: ReadonlyMap<string, ReceiverType>,
  entry: ReceiverConfig,
  index: number,
  context: Omit<ReceiverContext, "config">,
): Promise<Receiver> {
  const { type, options } = parseOptions(types, entry, index);
  return await type.create(options, { ...context, config: entry });
}
