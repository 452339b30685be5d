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
 * Checks that every receiver entry names a known type, before anything starts (main.ts): a typo
 * is one line and exit code 2. Each type's own options are validated when it is built.
 */
export function checkReceiverTypes(
  types: ReadonlyMap<string, ReceiverType>,
  entries: ReceiverConfig[],
): void {
  entries.forEach((entry, index) => {
    if (!types.has(entry.type)) throw unknownType(types, entry, index);
  });
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

/** Validates a receiver entry against its type's schema and builds it. */
export async function buildReceiver(
  types: ReadonlyMap<string, ReceiverType>,
  entry: ReceiverConfig,
  index: number,
  context: Omit<ReceiverContext, "config">,
): Promise<Receiver> {
  const type = types.get(entry.type);
  if (!type) throw unknownType(types, entry, index);
  const { id: _id, type: _type, subscribe: _subscribe, ...rest } = entry;
  const parsed = type.options.safeParse(rest);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid config: ${describeZodError(parsed.error, `receivers.${index}.`)}`,
    );
  }
  return await type.create(parsed.data, { ...context, config: entry });
}
