/**
 * The live feeds of one cluster instance (dashboard, web): every instance's clients see every
 * agent, whichever instance the agent talks to.
 *
 * - Reports of other instances come through a plain NATS subscription on the stream's subjects:
 *   the server hands every publish to it as it stores it, with no consumer state to keep. Best
 *   effort, like the live queues themselves: what is published while this instance is
 *   disconnected is missed.
 * - Its own reports an instance shows from memory once JetStream acked them (`showOwn`), without
 *   decoding them again: the subscription's copy (marked with this instance's `origin`) is
 *   skipped. An outbox resend carries no origin, so a report that was in doubt is shown when its
 *   resend comes by.
 * - A copy of a report already shown (an outbox resend whose first copy was stored after all, an
 *   Idempotency-Key resend through another instance) is dropped, by Message id.
 */
import type { Subscription as NatsSubscription } from "@nats-io/transport-node";
import { BoundedMap } from "../core/bounded_map.ts";
import type { Message } from "../core/message.ts";
import type { PushResult, QueueItem, ReceiverRunner } from "../core/runner.ts";
import type { NatsRuntime } from "./nats.ts";
import { decodeItems, wants } from "./stream_items.ts";
import { ORIGIN_HEADER } from "./stream_publisher.ts";

/** Copies the live feeds can recognise as already shown: the ids of up to this many recent reports. */
const RECENT_IDS = 100_000;

export interface LiveFeed {
  /** Names this instance on what it publishes (the stream publisher's origin header). */
  readonly origin: string;
  /** A live receiver's runner and the metric types it subscribes to (before `start`). */
  add(runner: ReceiverRunner, subscribe: readonly string[]): void;
  /** Subscribes, when there is any live receiver. */
  start(): void;
  /** Shows a report this instance published, once JetStream acked it. */
  showOwn(message: Message): void;
  stop(): void;
  /** Copies of reports already shown, dropped. */
  readonly dropped: number;
}

/** The live feed of an instance; `pushes` counts the runners' push outcomes. */
export function createLiveFeed(nats: NatsRuntime, pushes: Record<PushResult, number>): LiveFeed {
  const live: Array<{ runner: ReceiverRunner; subscribe: ReadonlySet<string> }> = [];
  /** Ids of the reports shown lately: another copy of one of them is dropped. */
  const recent = new BoundedMap<string, true>(RECENT_IDS);
  const origin = crypto.randomUUID();
  let subscription: NatsSubscription | undefined;
  let dropped = 0;

  function toLive(item: QueueItem): void {
    for (const { runner, subscribe } of live) {
      if (wants(subscribe, item)) pushes[runner.push(item)]++;
    }
  }

  /** An item the subscription brought: shown once per report id. */
  function heard(item: QueueItem): void {
    if (item.kind === "message") {
      const id = item.message.id;
      if (recent.has(id)) {
        dropped++;
        return;
      }
      recent.set(id, true);
    }
    toLive(item);
  }

  return {
    origin,
    get dropped() {
      return dropped;
    },
    add(runner, subscribe) {
      live.push({ runner, subscribe: new Set(subscribe) });
    },
    start() {
      if (live.length === 0) return;
      subscription = nats.nc.subscribe(nats.subjects.all, {
        callback: (err, msg) => {
          if (err) return;
          if (msg.headers?.get(ORIGIN_HEADER) === origin) return;
          const items = decodeItems(nats.subjects, msg);
          if (items) { for (const item of items) heard(item); }
        },
      });
    },
    /**
     * Acked, an own report has no other copy to come, unless it carries an Idempotency-Key (a
     * resend through another instance): only those are remembered (remembering an id costs
     * ~1.3 µs here, GC included).
     */
    showOwn(message) {
      if (message.idempotent) recent.set(message.id, true);
      toLive({ kind: "message", message });
    },
    stop() {
      subscription?.unsubscribe();
    },
  };
}
