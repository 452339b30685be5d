/** The bus seam: routes Messages by metric type to the receivers that subscribe to it. */
import type { Message } from "./message.ts";
import { PUSH_RESULTS, type PushResult, type ReceiverRunner } from "./runner.ts";

/**
 * What became of a published Message: `published` (handed to every subscribed queue), or
 * `overloaded` (refused as a whole: a durable receiver that stores it cannot take more now;
 * no queue got it, so the sender may send it again without duplicates).
 */
export type PublishResult =
  | { state: "published" }
  | { state: "overloaded"; receivers: string[] };

/** Publish/subscribe by metric type; the request path ends at `publish`. */
export interface Bus {
  /** Hands a Message to every subscribed receiver queue (the cluster bus resolves on the ack). */
  publish(message: Message): PublishResult | Promise<PublishResult>;
  /** Tells every receiver that an agent went inactive. */
  inactive(agentId: string): void;
  /** Messages published per metric type, push outcomes, the cluster outbox's counters (for /metrics). */
  stats(): {
    published: Record<string, number>;
    pushes: Record<PushResult, number>;
    outbox?: Record<string, number>;
  };
}

const PUBLISHED: PublishResult = { state: "published" };

/** A zero count per push outcome. */
export function emptyPushCounts(): Record<PushResult, number> {
  return Object.fromEntries(PUSH_RESULTS.map((r) => [r, 0])) as Record<PushResult, number>;
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
  /** Reports accepted, by metric type (a refused one, answered 503, is not). */
  const published = new Map<string, number>();
  function countPublished(message: Message): PublishResult {
    published.set(message.dataType, (published.get(message.dataType) ?? 0) + 1);
    return PUBLISHED;
  }
  const pushes = emptyPushCounts();

  return {
    publish(message) {
      const runners = routes.get(message.dataType);
      if (!runners) return countPublished(message);
      const item = { kind: "message", message } as const;
      // All or nothing: checked before any queue takes it, so a retry duplicates nothing.
      const refuses = (r: ReceiverRunner) => r.full() && r.accepts(message);
      if (runners.some(refuses)) {
        const full = runners.filter(refuses);
        for (const runner of full) pushes[runner.push(item)]++; // counted as refused there
        return { state: "overloaded", receivers: full.map((r) => r.receiver.id) };
      }
      for (const runner of runners) pushes[runner.push(item)]++;
      return countPublished(message);
    },
    inactive(agentId) {
      for (const runner of all) pushes[runner.push({ kind: "inactive", agentId })]++;
    },
    stats() {
      return { published: Object.fromEntries(published), pushes: { ...pushes } };
    },
  };
}
