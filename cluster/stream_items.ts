/** Reading the stream's messages: what a stream message holds, and which items a receiver takes. */
import { decode } from "@msgpack/msgpack";
import type { Message } from "../core/message.ts";
import type { QueueItem } from "../core/runner.ts";
import type { ClusterSubjects } from "./nats.ts";

/**
 * The items of a stream message: one Message, a batch of Messages (an array, published
 * together), or an inactive event; undefined when it cannot be read.
 */
export function decodeItems(
  subjects: ClusterSubjects,
  jm: { subject: string; data: Uint8Array },
): QueueItem[] | undefined {
  try {
    const value = decode(jm.data) as Record<string, unknown> | Array<Record<string, unknown>>;
    if (jm.subject === subjects.inactive) {
      const agentId = (value as Record<string, unknown>).agentId;
      return typeof agentId === "string" ? [{ kind: "inactive", agentId }] : undefined;
    }
    if (!jm.subject.startsWith(subjects.message(""))) return undefined;
    const list = Array.isArray(value) ? value : [value];
    if (list.length === 0 || !list.every((m) => typeof m?.id === "string")) return undefined;
    return list.map((m) => ({ kind: "message", message: m as unknown as Message }));
  } catch {
    return undefined; // malformed
  }
}

/** Whether a receiver subscribed to `subscribe` takes `item` (every receiver hears inactive agents). */
export function wants(subscribe: ReadonlySet<string>, item: QueueItem): boolean {
  return item.kind === "inactive" || subscribe.has(item.message.dataType);
}
