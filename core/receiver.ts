/** The receiver plugin contract (original `POABackend.Receiver`): init → receive → inactive → close. */
import type { Hono } from "hono";
import type postgres from "postgres";
import type { z } from "zod";
import type { AppEnv } from "../http/app_env.ts";
import type { ReceiverConfig, RouteGroup } from "./config.ts";
import type { Message } from "./message.ts";

/**
 * A sink for Messages. The pipeline calls `receive` with batches from the receiver's own
 * queue; a throw means "not written": the pipeline retries the same batch with backoff.
 * Durable receivers must therefore write idempotently (keyed by `Message.id`).
 */
export interface Receiver {
  readonly id: string;
  /**
   * Durable receivers never lose a batch: while the sink fails, batches are kept in memory
   * up to a bound, then spilled to disk and replayed in order. Live receivers (a websocket
   * feed) drop the oldest when their queue is full, counted.
   */
  readonly durable: boolean;
  /**
   * Most messages per `receive` call (default 500, the runner's). A Postgres receiver asks for
   * fewer: the client serializes a batch's parameters in one go on the event loop, and every
   * request waits for that.
   */
  readonly maxBatch?: number;
  /**
   * A call (init, receive, inactive) not settled after this long counts as failed and is retried
   * (it may still finish: durable receivers write idempotently). Absent: calls are awaited for
   * good. A Postgres receiver sets it: a connection left half-open (a failover, a stuck proxy)
   * would otherwise hold its queue for good.
   */
  readonly callTimeoutMs?: number;
  /**
   * A call ran past `callTimeoutMs` and was given up on: let go of what it waits on (a Postgres
   * receiver ends its connections, which a half-open one would hold for good), so that the retry
   * does not queue behind it.
   */
  abandoned?(): void;
  init?(): Promise<void>;
  /**
   * Whether the receiver stores this message at all (e.g. only `statistics`). Applied when a
   * message is pushed, so what it would drop never takes queue space, spill files or a
   * delivery; counted as `filtered`. Must be cheap and side-effect free. Absent: every message
   * of the subscribed metric types.
   */
  accepts?(message: Message): boolean;
  /** Takes a batch; a receiver that is done at once (in memory) may return nothing instead of a promise. */
  receive(batch: Message[]): Promise<void> | void;
  /** The agent stopped pinging or said bye. Delivered in order with the messages. */
  inactive?(agentId: string): Promise<void> | void;
  /** Called on shutdown once the queue has drained. */
  close?(): Promise<void> | void;
  /**
   * Called on shutdown before the listeners close: ends the receiver's own client connections
   * (websockets: 1001 going away; the server's shutdown would close them 1005, which no peer may be
   * sent). It still takes messages until `close`.
   */
  disconnect?(): void;
  /**
   * Called on shutdown before the ethstats sockets close: the inactive events that follow (and any
   * still queued) come from the service stopping, not from the nodes (the alerts receiver then
   * raises none: a planned restart paged once per ethstats node, `back` a few seconds after).
   */
  stopping?(): void;
  /** Receiver-specific counters for /metrics (e.g. `skipped_malformed`). */
  stats?(): Record<string, number>;
  /** Routes this receiver serves (e.g. the dashboard websocket), mounted on `group`. */
  routes?: { group: RouteGroup; app: Hono<AppEnv> };
}

/** Everything a receiver factory may use; opened by service.ts, shared by receivers. */
export interface ReceiverContext {
  /** The receiver's config entry, validated by the factory's own schema. */
  config: ReceiverConfig;
  /** The service's data directory (spill files, local state). */
  dataDir: string;
  /** The shared Postgres client (opened on first use: embedded server or `postgres.url`). */
  postgres(): Promise<postgres.Sql>;
  /**
   * The dashboard secret the feeds share, for a receiver configured without its own:
   * `POA_WS_SECRET`, else `<dataDir>/ws-secret` (generated once, 0600).
   */
  wsSecret?(): Promise<string>;
}

/** A registry entry: the options schema of a type and the factory that builds it. */
export interface ReceiverType<S extends z.ZodType = z.ZodType> {
  /** Validates the type-specific keys of a config entry. */
  options: S;
  /**
   * Whether a receiver of these options needs the service's Postgres to start (`context.postgres()`
   * in its init): without `postgres.url`, whether the embedded server can run in the data dir is
   * then checked before the service starts.
   */
  needsPostgres?(options: z.infer<S>): boolean;
  create(options: z.infer<S>, context: ReceiverContext): Receiver | Promise<Receiver>;
}
