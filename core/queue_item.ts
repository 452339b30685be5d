import type { Message } from "./message.ts";

/** What travels through a receiver queue: a message, or an agent gone inactive. */
export type QueueItem =
  | { kind: "message"; message: Message }
  | { kind: "inactive"; agentId: string };

/**
 * Whether a value read back from a spill file is a queue item the runner can deliver (a message
 * with an id, agent id and metric type, or an inactive event): anything else would stall the loop.
 */
export function isQueueItem(value: unknown): value is QueueItem {
  if (value === null || typeof value !== "object") return false;
  const item = value as Record<string, unknown>;
  if (item.kind === "inactive") return typeof item.agentId === "string";
  if (item.kind !== "message") return false;
  const m = item.message as Record<string, unknown> | null;
  return m !== null && typeof m === "object" && typeof m.id === "string" &&
    typeof m.agentId === "string" && typeof m.dataType === "string" && typeof m.receivedAt === "number" &&
    m.data !== null && typeof m.data === "object";
}
