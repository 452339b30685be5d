/**
 * The cluster bus on NATS JetStream.
 *
 * - `publish` stores the Message in the stream (`<root>.msg.<metric type>`, msgpack) and
 *   resolves on the JetStream ack (cluster/stream_publisher.ts). Reports of one metric type that
 *   arrive together go out as one stream message (a msgpack array): one publish, ack,
 *   replication and consumer delivery for all of them; consumers ack it once every report in it
 *   was written. An ack that does not come within `publishTimeoutMs` (NATS away, a leader
 *   election) leaves the report in doubt: it goes to the instance's outbox on disk
 *   (cluster/outbox.ts), which publishes it again with the same Message id until JetStream takes
 *   it. So a 200 means "stored by JetStream or in the outbox", a 503 (outbox at its bound,
 *   checked before publishing) "not published at all". A report stored twice this way is written
 *   once (receivers key on Message.id) and shown once (the live feeds drop a copy of a report
 *   they already showed).
 * - Durable (storage) receivers: durable pull consumers named after the receiver id, shared by
 *   every instance, so each message is handled by one instance (on NATS 2.9, which takes one
 *   filter subject per consumer, one consumer per metric type plus one for inactive agents).
 *   Messages go through the receiver's usual runner (batches, retries) and are acked once the
 *   receiver wrote them (cluster/delivery_acks.ts: a report carried by several stream messages,
 *   a batch and its outbox resend, acks all of them); until then the instance keeps them
 *   (`working()`), and if it dies JetStream redelivers them to another after `ackWaitSeconds`.
 *   Writes are idempotent by Message id, so a redelivery stores nothing twice.
 * - Live receivers (dashboard, web): cluster/live_feed.ts, so every instance's clients see
 *   every agent whichever instance it talks to.
 * - `inactive` is a stream message too (`<root>.inactive`), so every instance and every
 *   storage receiver hears it once.
 */
import { encode } from "@msgpack/msgpack";
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  type JsMsg,
} from "@nats-io/jetstream";
import { type Bus, emptyPushCounts, type Subscription } from "../core/bus.ts";
import type { Message } from "../core/message.ts";
import { AppError } from "../http/errors.ts";
import type { ReceiverRunner } from "../core/runner.ts";
import type { Receiver } from "../core/receiver.ts";
import { nanos, type NatsRuntime } from "./nats.ts";
import type { Outbox } from "./outbox.ts";
import { createDeliveryAcks, type DeliveryAcks } from "./delivery_acks.ts";
import { createLiveFeed } from "./live_feed.ts";
import { decodeItems, wants } from "./stream_items.ts";
import { createStreamPublisher } from "./stream_publisher.ts";

export interface JetStreamQueueOptions {
  /** Redelivery delay of an unacked message (ms). */
  ackWaitMs: number;
  /** How long `publish` waits for the JetStream ack before the report goes to the outbox (ms). */
  publishTimeoutMs: number;
  /** Where reports in doubt wait to be published again (opened with `republisher`). */
  outbox: Outbox;
  log?: (line: string) => void;
}

/** The JetStream queue of one instance: wraps durable receivers, then runs the consumers. */
export interface JetStreamQueue {
  /** Wraps a durable receiver so what it wrote is acked (live receivers come back unchanged). */
  track(receiver: Receiver): Receiver;
  /** Starts a consumer per durable runner and the live fan-out; returns the bus. */
  start(subscriptions: Subscription[]): Promise<Bus>;
  /** Stops taking messages from JetStream (before the runners drain). */
  stopConsuming(): Promise<void>;
  /** Gives back (nak) what the drained runners did not deliver, for another instance to take. */
  release(): void;
}

/** Items one runner may hold before its consumer stops pulling (keeps acks well inside ack_wait). */
const HIGH_WATER = 2000;
/** Messages a consumer asks JetStream for at once. */
const PULL_BATCH = 1000;
/** How long a pull request lasts (JetStream's heartbeats on it come every half of that). */
const PULL_EXPIRES_MS = 5_000;

/** Receiver ids used as they are in consumer names; others are hashed. */
const PLAIN_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** A durable consumer name for a receiver id (consumer names cannot hold `.`, `*`, `>`, spaces). */
export async function consumerName(receiverId: string): Promise<string> {
  if (PLAIN_ID.test(receiverId)) return receiverId;
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(receiverId)));
  return "r_" + Array.from(hash.subarray(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A consumer's name on NATS 2.9 (one filter per consumer) for a metric type (`inactive`: inactive agents). */
function perTypeName(name: string, type: string): string {
  return `${name}__${type.replaceAll(".", "_")}`;
}

/**
 * Two receiver/metric pairs whose NATS 2.9 consumers would have the same name (`a.b` and `a_b`, a
 * metric type called `inactive`, receiver ids with `__`): they would share one consumer, each getting
 * part of the other's reports. A receiver id that is hashed (consumerName) clashes with nothing.
 */
export function consumerNameClash(
  receivers: ReadonlyArray<{ id: string; subscribe: readonly string[] }>,
): string | undefined {
  const seen = new Map<string, string>();
  for (const r of receivers) {
    const consumers = [...new Set(r.subscribe)].map((type) => ({
      type,
      what: `receiver ${r.id}, metric type ${type}`,
    }));
    consumers.push({ type: "inactive", what: `receiver ${r.id}'s inactive-agents consumer` });
    for (const { type, what } of consumers) {
      const name = perTypeName(PLAIN_ID.test(r.id) ? r.id : `hashed ${r.id}`, type);
      const other = seen.get(name);
      if (other !== undefined) return `${other} and ${what} would share NATS consumer ${name}`;
      seen.set(name, what);
    }
  }
  return undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Creates the queue over an open NATS runtime (the caller closes the connection). */
export function createJetStreamQueue(nats: NatsRuntime, options: JetStreamQueueOptions): JetStreamQueue {
  const log = options.log ?? ((line: string) => console.log(line));
  const { js, jsm, subjects } = nats;
  /** Each durable receiver's (wrapper's) deliveries, acked once written. */
  const tracked = new Map<Receiver, DeliveryAcks<JsMsg>>();
  const iterators = new Set<ConsumerMessages>();
  const loops: Promise<void>[] = [];
  let stopped = false;
  let workingTimer: ReturnType<typeof setInterval> | undefined;

  /** Reports accepted (stored by JetStream or its outbox), by metric type: not the ones refused. */
  const published = new Map<string, number>();
  function countPublished(message: Message): { state: "published" } {
    published.set(message.dataType, (published.get(message.dataType) ?? 0) + 1);
    return { state: "published" };
  }
  const pushes = emptyPushCounts();
  const { outbox } = options;

  /**
   * The durable consumers of a receiver: one with all its subjects on NATS 2.10+, else (2.9
   * takes one filter per consumer) one per metric type plus one for inactive agents.
   */
  function consumersFor(
    name: string,
    subscribe: readonly string[],
  ): Array<{ name: string; filter: Partial<ConsumerConfig> }> {
    const types = [...new Set(subscribe)];
    if (nats.multiFilter) {
      return [{ name, filter: { filter_subjects: types.map(subjects.message).concat(subjects.inactive) } }];
    }
    return [
      ...types.map((t) => ({
        name: perTypeName(name, t),
        filter: { filter_subject: subjects.message(t) },
      })),
      { name: perTypeName(name, "inactive"), filter: { filter_subject: subjects.inactive } },
    ];
  }

  async function ensureDurable(name: string, filter: Partial<ConsumerConfig>): Promise<void> {
    const wanted: Partial<ConsumerConfig> = {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(options.ackWaitMs),
      max_ack_pending: 20_000,
      deliver_policy: DeliverPolicy.New,
      ...filter,
    };
    try {
      await jsm.consumers.add(subjects.stream, wanted);
    } catch (err) {
      // Exists with other settings (changed config, or a server upgrade): update what may change.
      const { durable_name: _d, deliver_policy: _p, ...mutable } = wanted;
      try {
        await jsm.consumers.update(subjects.stream, name, mutable);
      } catch (err2) {
        await jsm.consumers.info(subjects.stream, name).catch(() => {
          throw err;
        });
        log(`cluster: keeping consumer ${name} as it is (${(err2 as Error).message})`);
      }
    }
  }

  /** Pulls from `next()` until stopped, re-opening it after errors (consumer lost, server gone). */
  function pullLoop(
    what: string,
    open: () => Promise<ConsumerMessages>,
    onMessage: (jm: JsMsg) => Promise<void> | void,
  ) {
    loops.push((async () => {
      let failures = 0;
      while (!stopped) {
        let iter: ConsumerMessages | undefined;
        try {
          iter = await open();
          iterators.add(iter);
          if (stopped) iter.stop();
          failures = 0;
          for await (const jm of iter) {
            await onMessage(jm);
            if (stopped) break;
          }
        } catch (err) {
          if (stopped) break;
          if (failures++ % 20 === 0) {
            console.error(`cluster: ${what} failed, retrying:`, (err as Error).message);
          }
        } finally {
          if (iter) {
            iterators.delete(iter);
            iter.stop();
          }
        }
        if (!stopped) await sleep(Math.min(2000, 100 * 2 ** Math.min(failures, 5)));
      }
    })());
  }

  async function startDurable(
    runner: ReceiverRunner,
    subscribe: readonly string[],
    acks: DeliveryAcks<JsMsg>,
  ): Promise<void> {
    const wanted = new Set(subscribe);
    const consumers = consumersFor(await consumerName(runner.receiver.id), subscribe);
    for (const c of consumers) await ensureDurable(c.name, c.filter);
    for (const c of consumers) {
      pullLoop(`consumer ${c.name}`, async () => {
        await ensureDurable(c.name, c.filter).catch(() => {});
        const consumer = await js.consumers.get(subjects.stream, c.name);
        // A pull request's expiry (its heartbeats every half of it) bounds how long a consumer waits on
        // a NATS node that died holding it: with the library's 30 s, rows stopped for 31-45 s.
        return await consumer.consume({ max_messages: PULL_BATCH, expires: PULL_EXPIRES_MS });
      }, async (jm) => {
        const items = decodeItems(subjects, jm);
        if (!items) {
          console.error(`cluster: dropping an undecodable stream message on ${jm.subject} (seq ${jm.seq})`);
          jm.term();
          return;
        }
        const mine = items.filter((item) => wants(wanted, item));
        if (mine.length === 0) {
          jm.ack();
          return;
        }
        let waiting = 0;
        for (const item of mine) {
          // Still queued here (a redelivery, or a resend's copy): acked with its one write.
          if (item.kind === "message" && acks.has(item.message.id)) {
            if (acks.waitFor(item.message.id, jm)) waiting++;
            continue;
          }
          const result = runner.push(item);
          pushes[result]++;
          if (result === "filtered") continue; // the receiver does not store it: done
          if (result === "full") {
            // Held back by HIGH_WATER, so rare: JetStream redelivers the whole message later
            // (what was pushed of it is written once: writes are idempotent by Message id).
            acks.forget(jm, mine.flatMap((other) => other.kind === "message" ? [other.message.id] : []));
            jm.nak(1000);
            return;
          }
          // Registered after the push: delivery (and so the ack) happens on a later turn.
          waiting++;
          if (item.kind === "message") acks.waitFor(item.message.id, jm);
          else acks.waitForInactive(item.agentId, jm);
        }
        if (waiting === 0) jm.ack();
        else acks.expect(jm, waiting);
        while (!stopped && runner.stats().queue_depth >= HIGH_WATER) await sleep(5);
      });
    }
  }

  const liveFeed = createLiveFeed(nats, pushes);
  const toStream = createStreamPublisher(nats, options.publishTimeoutMs, liveFeed.origin);

  return {
    track(receiver) {
      if (!receiver.durable) return receiver;
      const acks = createDeliveryAcks<JsMsg>();
      const wrapper: Receiver = {
        id: receiver.id,
        durable: true,
        routes: receiver.routes,
        init: receiver.init ? () => receiver.init!() : undefined,
        accepts: receiver.accepts ? (message) => receiver.accepts!(message) : undefined,
        async receive(batch) {
          await receiver.receive(batch);
          for (const m of batch) acks.written(m.id);
        },
        async inactive(agentId) {
          await receiver.inactive?.(agentId);
          acks.inactiveWritten(agentId);
        },
        close: receiver.close ? () => receiver.close!() : undefined,
        stats: receiver.stats ? () => receiver.stats!() : undefined,
      };
      tracked.set(wrapper, acks);
      return wrapper;
    },

    async start(subscriptions) {
      const durables: Promise<void>[] = [];
      for (const { runner, subscribe } of subscriptions) {
        const acks = tracked.get(runner.receiver);
        if (acks) durables.push(startDurable(runner, subscribe, acks));
        else if (runner.receiver.durable) {
          throw new Error(`cluster: durable receiver ${runner.receiver.id} was not tracked`);
        } else liveFeed.add(runner, subscribe);
      }
      await Promise.all(durables);
      liveFeed.start();
      // Held messages stay ours while a slow or failing sink retries.
      workingTimer = setInterval(() => {
        for (const acks of tracked.values()) for (const jm of acks.held()) jm.working();
      }, Math.max(1000, Math.floor(options.ackWaitMs / 3)));

      return {
        async publish(message) {
          if (outbox.full()) {
            throw new AppError(
              503,
              "queue_unavailable",
              "the message queue is unreachable and this instance's outbox is full; the report was not stored, send it again",
              { "retry-after": "5" },
            );
          }
          // Behind what waits in the outbox: an agent's reports reach the stream in order.
          const stored = outbox.busy() ? false : await toStream(message);
          if (stored === "too_large") {
            // Never in the outbox: it could not be published there either.
            throw new AppError(
              413,
              "payload_too_large",
              `the report does not fit a message of the cluster's queue (NATS max_payload ${
                nats.nc.info?.max_payload ?? "?"
              } bytes); raise max_payload on the NATS servers or send smaller reports`,
            );
          }
          if (stored === "stored") liveFeed.showOwn(message);
          if (stored) return countPublished(message);
          // In doubt (no ack in time, connection lost): the outbox publishes it again.
          try {
            await outbox.accept(message);
          } catch (err) {
            console.error(`cluster: writing ${message.id} to the outbox failed:`, (err as Error).message);
            throw new AppError(503, "queue_unavailable", "the report could not be queued; send it again", {
              "retry-after": "1",
            });
          }
          return countPublished(message);
        },
        inactive(agentId) {
          const data = encode({ agentId });
          (async () => {
            const deadline = Date.now() + Math.max(options.publishTimeoutMs, 30_000);
            for (let attempt = 0;; attempt++) {
              try {
                await js.publish(subjects.inactive, data);
                return;
              } catch (err) {
                if (Date.now() > deadline) {
                  console.error(`cluster: reporting ${agentId} inactive failed:`, (err as Error).message);
                  return;
                }
                await sleep(Math.min(1000, 50 * 2 ** attempt));
              }
            }
          })();
        },
        stats() {
          return {
            published: Object.fromEntries(published),
            pushes: { ...pushes },
            outbox: { ...outbox.stats(), live_resent_dropped: liveFeed.dropped },
          };
        },
      };
    },

    async stopConsuming() {
      stopped = true;
      clearInterval(workingTimer);
      liveFeed.stop();
      for (const iter of iterators) iter.stop();
      await Promise.race([Promise.all(loops), sleep(2000)]);
    },

    release() {
      for (const acks of tracked.values()) {
        for (const jm of acks.held()) jm.nak();
        acks.clear();
      }
    },
  };
}
