/**
 * Where the pipeline's shared state lives: in this process (the default), or shared by the
 * instances of a cluster (`config.cluster`: NATS JetStream queue, shared auth store, shared
 * activity). service.ts chooses once, here, and builds everything else the same way.
 */
import { createKvAuthStore } from "../auth/kv_store.ts";
import type { AuthStore } from "../auth/store.ts";
import { type ActivityMonitor, createActivityMonitor } from "../core/activity.ts";
import { type Bus, createLocalBus, type Subscription } from "../core/bus.ts";
import type { Config } from "../core/config.ts";
import { usesKvFile } from "../core/data_dir.ts";
import type { Receiver } from "../core/receiver.ts";
import { type AuthStoreDeps, openCluster } from "../cluster/runtime.ts";

export interface ActivityOptions {
  timeoutMs: number;
  onInactive: (agentId: string) => void;
}

/** The seams that differ between one process and a cluster. */
export interface Runtime {
  /** "local" or "cluster", for the log. */
  readonly kind: "local" | "cluster";
  /** Whether the service opens its Deno KV file (auth state, or the KV store a cluster shares). */
  readonly usesKv: boolean;
  openAuthStore(deps: AuthStoreDeps): Promise<AuthStore>;
  /** What a receiver's runner delivers to (a cluster acknowledges JetStream messages once written). */
  wrapReceiver(receiver: Receiver): Receiver;
  startBus(subscriptions: Subscription[]): Promise<Bus>;
  createActivity(options: ActivityOptions): Promise<ActivityMonitor>;
  /** Stops taking new work from elsewhere (before the queues drain). */
  stopConsuming(): Promise<void> | void;
  /** After the queues drained. */
  close(): Promise<void> | void;
}

/** The runtime the config asks for. */
export async function openRuntime(
  config: Config,
  options: { log?: (line: string) => void } = {},
): Promise<Runtime> {
  if (!config.cluster) return localRuntime();
  const cluster = await openCluster(config, options);
  return {
    kind: "cluster",
    usesKv: usesKvFile(config),
    openAuthStore: (deps) => cluster.openAuthStore(deps),
    wrapReceiver: (receiver) => cluster.queue.track(receiver),
    startBus: (subscriptions) => cluster.queue.start(subscriptions),
    createActivity: (opts) => cluster.createActivity(opts),
    stopConsuming: () => cluster.queue.stopConsuming(),
    close: () => cluster.close(),
  };
}

/** One process: Deno KV, the in-process bus and activity monitor. */
export function localRuntime(): Runtime {
  return {
    kind: "local",
    usesKv: true,
    openAuthStore({ kv }) {
      if (!kv) throw new Error("the local runtime needs the KV handle");
      return Promise.resolve(createKvAuthStore(kv));
    },
    wrapReceiver: (receiver) => receiver,
    startBus: (subscriptions) => Promise.resolve(createLocalBus(subscriptions)),
    createActivity: (opts) => Promise.resolve(createActivityMonitor(opts)),
    stopConsuming() {},
    close() {},
  };
}
