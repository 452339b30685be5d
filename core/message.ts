/**
 * A report from an agent, as it travels from the routes to the receivers. Read-only once
 * published: receivers must not change a message or its data, which other messages may share
 * (equal block bodies are one object, core/shared_blocks.ts).
 */
export interface Message {
  /** Unique per accepted report; receivers use it to make writes idempotent. */
  id: string;
  agentId: string;
  /** The metric type, e.g. `ethereum_metrics`; the bus routes on it. */
  dataType: string;
  /** `data` for /data reports (the original's message type). */
  messageType: "data";
  /** The agent's payload, usually `{type, body}`. */
  data: Record<string, unknown>;
  /** Epoch milliseconds when the service accepted the report. */
  receivedAt: number;
}

/** The `type` of an original agent payload (`information`, `statistics`, …), if any. */
export function payloadType(message: Message): string | undefined {
  const t = message.data["type"];
  return typeof t === "string" ? t : undefined;
}

/** The `body` of an original agent payload when it is an object. */
export function payloadBody(message: Message): Record<string, unknown> | undefined {
  return dataBody(message.data);
}

/** The `body` of a payload (a Message's `data`) when it is an object. */
export function dataBody(data: Record<string, unknown>): Record<string, unknown> | undefined {
  const b = data["body"];
  return b !== null && typeof b === "object" && !Array.isArray(b) ? b as Record<string, unknown> : undefined;
}
