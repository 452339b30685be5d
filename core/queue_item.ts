import type { Message } from "./message.ts";

/** What travels through a receiver queue: a message, or an agent gone inactive. */
export type QueueItem =
  | { kind: "message"; message: Message }
  | { kind: "inactive"; agentId: string };
