/**
 * A report from an agent, as it travels from the routes to the receivers. Read-only once
 * published: receivers must not change a message or its data, which other messages may share
 * (equal block bodies are one object, core/shared_blocks.ts).
 */
import { createHash } from "node:crypto";
import { z } from "zod";

/**
 * An agent id, wherever one comes in (`/data` and `/ping` bodies, ethstats `hello.id`, the read
 * API's paths): 1–256 characters without control characters. Receivers store it as text, and
 * Postgres text cannot hold a NUL: such an id would make every write of its messages fail. Nor a
 * lone surrogate (JSON's `"\ud800"`): stored as U+FFFD, ids that differ here would be one there.
 */
export const agentIdSchema = z.string({ error: "must be a string" })
  .min(1, "must not be empty")
  .max(256, "must be at most 256 characters")
  // deno-lint-ignore no-control-regex
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, "must not contain control characters")
  .refine((id) => id.isWellFormed(), "must not contain lone surrogates (\\ud800-\\udfff)");

export interface Message {
  /**
   * Unique per accepted report; receivers use it to make writes idempotent. Derived from the
   * agent's `Idempotency-Key` when it sent one (then `idempotent` is set): a resend has the same id.
   */
  id: string;
  /** The id derives from the agent's Idempotency-Key: the cluster bus lets JetStream drop a resend. */
  idempotent?: true;
  agentId: string;
  /** The metric type, e.g. `ethereum_metrics`; the bus routes on it. */
  dataType: string;
  /** `data` for /data reports (the original's message type). */
  messageType: "data";
  /** The agent's payload, usually `{type, body}`. */
  data: Record<string, unknown>;
  /** Epoch milliseconds when the service accepted the report. */
  receivedAt: number;
  /**
   * About how many bytes the report took as it came in (the request body, the ethstats frame),
   * counted against the queues' byte bounds; absent counts as 0.
   */
  bytes?: number;
  /**
   * The reporting client's IP address as the ingress saw it (`/data`: `clientAddress`, which
   * honours `trustedProxies`; ethstats: the socket's at upgrade). Absent from older or in-process
   * senders. Receivers that store rows ignore it; the web dashboard places nodes on its map by it.
   */
  address?: string;
  /**
   * The agent user that sent the report (`/data`: the token's; ethstats: the one it logged in as);
   * absent for nodes of the ethstats shared secret and in-process senders (null once through NATS).
   * The alerts receiver bounds the episodes of each user's nodes by it.
   */
  user?: string | null;
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

/**
 * The Message id of a report sent with an `Idempotency-Key`: a UUID (version 8, RFC 9562) from
 * SHA-256 of the user, the agent id, the metric type and the key, so one agent's resend maps to
 * the same id, and a key used again by another agent of the user (or for another metric type)
 * is another report rather than a resend, as are two users' keys.
 */
export function idempotentId(user: string, agentId: string, dataType: string, key: string): string {
  const h = createHash("sha256").update(user).update("\n").update(agentId).update("\n").update(dataType)
    .update("\n").update(key).digest();
  h[6] = (h[6]! & 0x0f) | 0x80; // version 8
  h[8] = (h[8]! & 0x3f) | 0x80; // variant 10
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
