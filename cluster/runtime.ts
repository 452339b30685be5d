/**
 * Cluster mode for one instance (`config.cluster`): the NATS connection and the cluster
 * implementations of the three seams — auth store, bus (JetStream queue), activity monitor.
 * runtime/runtime.ts offers them to service.ts in place of the local ones; everything else is the same.
 */
import type postgres from "postgres";
import { createKvAuthStore } from "../auth/kv_store.ts";
import { type AuthStore, postgresUnavailable, withStorageFailures } from "../auth/store.ts";
import type { ActivityMonitor } from "../core/activity.ts";
import { type Config, ConfigError, defaultReceivers } from "../core/config.ts";
import { createClusterActivityMonitor } from "./activity.ts";
import { consumerNameClash, createJetStreamQueue, type JetStreamQueue } from "./jetstream_queue.ts";
import { republisher } from "./stream_publisher.ts";
import { connectNats, type NatsRuntime } from "./nats.ts";
import { withNatsInvalidations } from "./nats_auth_store.ts";
import { openOutbox } from "./outbox.ts";
import { createPgAuthStore } from "./pg_auth_store.ts";

/** What opening the auth store takes. */
export interface AuthStoreDeps {
  kv?: Deno.Kv;
  postgres: () => Promise<postgres.Sql>;
}

/** The cluster parts of one instance. */
export interface ClusterRuntime {
  nats: NatsRuntime;
  /** The JetStream queue: wrap durable receivers with `track`, then `start` the bus. */
  queue: JetStreamQueue;
  /** The shared auth store (Postgres, or Deno KV with invalidations over NATS), listening. */
  openAuthStore(deps: AuthStoreDeps): Promise<AuthStore>;
  createActivity(
    options: { timeoutMs: number; onInactive: (agentId: string) => void },
  ): Promise<ActivityMonitor>;
  /** After the runners drained: gives back undelivered messages, closes the store and NATS. */
  close(): Promise<void>;
}

/** Checks the config for cluster mode and connects to NATS. */
export async function openCluster(
  config: Config,
  options: { log?: (line: string) => void } = {},
): Promise<ClusterRuntime> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cluster = config.cluster;
  if (!cluster) throw new Error("openCluster without config.cluster");
  if (cluster.authStore === "postgres" && !config.postgres.url) {
    throw new ConfigError(
      'invalid config: cluster.authStore: "postgres" needs postgres.url (or DATABASE_URL): one Postgres shared by every instance',
    );
  }
  const clash = consumerNameClash(config.receivers ?? defaultReceivers(config));
  if (clash) {
    throw new ConfigError(`invalid config: receivers: ${clash} (rename the metric type or the receiver)`);
  }
  if (cluster.authStore === "kv" && !config.kv.path.includes("://")) {
    log(
      `warning: cluster.authStore "kv" with the local file ${config.kv.path}: only instances on this host that open ` +
        `the same file share users; use a KV Connect URL (or authStore "postgres") for several hosts`,
    );
  }
  const nats = await connectNats(cluster.nats, { log });
  log(`cluster: connected to NATS ${nats.nc.getServer()} (JetStream stream ${nats.subjects.stream})`);
  const maxPayload = nats.nc.info?.max_payload;
  if (maxPayload !== undefined && maxPayload < config.bodyLimitBytes) {
    log(
      `warning: NATS max_payload is ${maxPayload} bytes, below bodyLimitBytes (${config.bodyLimitBytes}): larger ` +
        `reports are refused with 413 (a POA agent's 41-block history is 1-2 MB); set max_payload: 8MB on every NATS server`,
    );
  }
  const outbox = await openOutbox({
    dir: `${config.dataDir}/outbox`,
    maxBytes: cluster.nats.outboxMaxBytes,
    publish: republisher(nats),
  });
  const waiting = outbox.stats().pending;
  if (waiting > 0) log(`cluster: publishing ${waiting} report(s) left in the outbox`);
  const queue = createJetStreamQueue(nats, {
    ackWaitMs: cluster.nats.ackWaitSeconds * 1000,
    publishTimeoutMs: cluster.nats.publishTimeoutMs,
    outbox,
    log,
  });
  let store: AuthStore | undefined;
  let activity: ActivityMonitor | undefined;
  let closing: Promise<void> | undefined;
  return {
    nats,
    queue,
    async openAuthStore({ kv, postgres }) {
      if (cluster.authStore === "postgres") {
        // The service's deadline on each call: no change is committed after it.
        const pg = createPgAuthStore(await postgres(), { callDeadlineMs: config.authStoreTimeoutMs });
        store = pg;
        await pg.listening();
        // Postgres stopped (not frozen): ECONNREFUSED at once, which was a 500 per call, not a 503.
        return withStorageFailures(pg, undefined, postgresUnavailable);
      }
      if (!kv) throw new Error('cluster.authStore "kv" needs the KV handle');
      return store = withNatsInvalidations(createKvAuthStore(kv), nats.nc, nats.subjects.authChanges);
    },
    async createActivity(opts) {
      return activity = await createClusterActivityMonitor(nats, {
        ...opts,
        replicas: cluster.nats.replicas,
      });
    },
    close() {
      return closing ??= (async () => {
        activity?.close();
        queue.release();
        await outbox.close(); // what is left is published at the next start
        try {
          await store?.close();
        } catch (err) {
          console.error("cluster: closing the auth store failed:", err);
        }
        await nats.close();
      })();
    },
  };
}
