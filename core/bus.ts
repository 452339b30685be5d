/** The bus seam: routes Messages by metric type to the receivers that subscribe to it. */
import type { Message } from "./message.ts";
import type { PushResult, ReceiverRunner } from "./runner.ts";

/** Publish/subscribe by metric type; the request path ends at `publish`. */
export interface Bus {
  /** Hands a Message to every subscribed receiver queue (the cluster bus resolves on the ack). */
  publish(message: Message): void | Promise<void>;
  /** Tells every receiver that an agent went inactive. */
  inactive(agentId: string): void;
  /** Messages published per metric type, and push outcomes (for /metrics). */
  stats(): { published: Record<string, number>; pushes: Record<PushResult, number> };
}

/** A receiver runner with the metric types it subscribes to. */
export interface Subscription {
  runner: ReceiverRunner;
  subscribe: readonly string[];
}

/** The single-process bus: in-memory fan-out to each receiver's bounded queue. */
export function createLocalBus(subscriptions: Subscription[]): Bus {
  const routes = new Map<string, ReceiverRunner[]>();
  for (const { runner, subscribe } of subscriptions) {
    for (const type of new Set(subscribe)) {
      const list = routes.get(type) ?? [];
      list.push(runner);
      routes.set(type, list);
    }
  }
  const all = subscriptions.map((s) => s.runner);
  const published = new Map<string, number>();
  const pushes: Record<PushResult, number> = {
    queued: 0,
    spilled: 0,
    dropped_oldest: 0,
    closed: 0,
  };

  return {
    publish(message) {
      published.set(message.dataType, (published.get(message.dataType) ?? 0) + 1);
      const runners = routes.get(message.dataType);
      if (!runners) return;
      for (const runner of runners) pushes[runner.push({ kind: "message", message })]++;
    },
    inactive(agentId) {
      for (const runner of all) pushes[runner.push({ kind: "inactive", agentId })]++;
    },
    stats() {
      return { published: Object.fromEntries(published), pushes: { ...pushes } };
    },
  };
}
