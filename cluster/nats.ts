/**
 * The NATS side of cluster mode: one connection per instance, the JetStream stream of accepted
 * Messages (created or updated at start) and the subject names everything else uses.
 *
 * Subjects, under the stream name lowercased (`poa` for the default stream `POA`):
 * - `poa.msg.<metric type>` — accepted Messages (msgpack), in the stream;
 * - `poa.inactive` — an agent went inactive (msgpack `{agentId}`), in the stream;
 * - `poa-auth.changes` — auth invalidations when the auth store is Deno KV (core NATS);
 * - KV bucket `poa_activity` — the last ping of every agent.
 */
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import {
  DiscardPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { ClusterConfig } from "../core/config.ts";
import { within } from "../core/delivery_policy.ts";

/** Subject and bucket names derived from the stream name. */
export interface ClusterSubjects {
  stream: string;
  /** Subject root: the stream name lowercased. */
  root: string;
  /** `<root>.msg.<metricType>` */
  message(metricType: string): string;
  inactive: string;
  /** What the stream captures: `<root>.>`. */
  all: string;
  authChanges: string;
  activityBucket: string;
}

/** Names for a stream (see the module comment). */
export function clusterSubjects(stream: string): ClusterSubjects {
  const root = stream.toLowerCase();
  return {
    stream,
    root,
    message: (metricType) => `${root}.msg.${metricType}`,
    inactive: `${root}.inactive`,
    all: `${root}.>`,
    authChanges: `${root}-auth.changes`,
    activityBucket: `${root}_activity`,
  };
}

/** An open NATS connection with JetStream and the stream ensured. */
export interface NatsRuntime {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  subjects: ClusterSubjects;
  /** Whether the server takes several filter subjects per consumer (2.10+). */
  multiFilter: boolean;
  /** Drains subscriptions and closes the connection. Idempotent. */
  close(): Promise<void>;
}

const NANOS_PER_MS = 1_000_000;
/** How long closing waits for the server to confirm the drain before it just closes the connection. */
const DRAIN_TIMEOUT_MS = 2_000;

/** Milliseconds as the nanoseconds JetStream configs use. */
export function nanos(ms: number): number {
  return ms * NANOS_PER_MS;
}

/** Whether `version` (e.g. "2.9.10") is at least major.minor. */
export function versionAtLeast(version: string | undefined, major: number, minor: number): boolean {
  const [a = 0, b = 0] = (version ?? "0.0").split(".").map((p) => Number.parseInt(p, 10) || 0);
  return a > major || (a === major && b >= minor);
}

/** Connects to NATS (reconnecting forever afterwards) and creates or updates the stream. */
export async function connectNats(
  config: ClusterConfig["nats"],
  options: { name?: string; log?: (line: string) => void } = {},
): Promise<NatsRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const servers = typeof config.servers === "string" ? [config.servers] : config.servers;
  const connectOptions: ConnectionOptions = {
    servers,
    name: options.name ?? `poa-backend-${Deno.hostname()}-${Deno.pid}`,
    maxReconnectAttempts: -1,
    // nats.js gives up for good after two authentication errors in a row, whatever the above says:
    // a server restarted with credentials the instance lacks left it closed (the outbox growing,
    // /healthz ok) after the server took it again.
    ignoreAuthErrorAbort: true,
    reconnectTimeWait: 250,
    reconnectJitter: 100,
    pingInterval: 10_000,
    // Without it every request (each JetStream publish) builds an Error up front for an async
    // stack trace: ~11 % of an instance's CPU under /data load (bench/profile.ts --nats).
    noAsyncTraces: true,
  };
  let nc: NatsConnection;
  try {
    nc = await connect(connectOptions);
  } catch (err) {
    throw new Error(`cluster: cannot connect to NATS at ${servers.join(", ")}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log(`nats: ${s.type} ${s.server ?? ""}`.trim());
    }
  })().catch(() => {});
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      if (nc.isClosed()) return;
      // A frozen server never answers the drain's flush: a stopping instance waited for it for good.
      const drained = await within(nc.drain().then(() => true, () => false), DRAIN_TIMEOUT_MS);
      if (drained !== true) await nc.close().catch(() => {});
    })();
  try {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 });
    const subjects = clusterSubjects(config.stream);
    await ensureStream(jsm, {
      name: config.stream,
      subjects: [subjects.all],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(config.maxAgeSeconds * 1000),
      num_replicas: config.replicas,
      duplicate_window: nanos(120_000),
    });
    return {
      nc,
      js: jetstream(nc, { timeout: 10_000 }),
      jsm,
      subjects,
      multiFilter: versionAtLeast(nc.info?.version, 2, 10),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Creates the stream, or updates the settings we own when it exists (several instances may race). */
async function ensureStream(jsm: JetStreamManager, wanted: Partial<StreamConfig> & { name: string }) {
  for (let attempt = 0;; attempt++) {
    let info;
    try {
      info = await jsm.streams.info(wanted.name);
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
    }
    try {
      if (!info) {
        await jsm.streams.add(wanted);
        return;
      }
      const c = info.config;
      const same = c.max_age === wanted.max_age && c.subjects?.join() === wanted.subjects?.join() &&
        c.duplicate_window === wanted.duplicate_window && c.num_replicas === wanted.num_replicas;
      if (!same) await jsm.streams.update(wanted.name, { ...c, ...wanted });
      return;
    } catch (err) {
      // Another instance created it between our info and add: look again.
      if (attempt >= 3) throw err;
    }
  }
}
