/**
 * One receiver's bounded async queue and delivery loop: batches, retries with capped
 * exponential backoff, overflow (drop-oldest for live receivers, spill-to-disk for durable
 * ones), replay of spilled segments in order, and a bounded drain on shutdown.
 *
 * A durable receiver's items live in three places, oldest first: the memory queue (up to
 * `maxQueue`), spill segment files, and the spill buffer waiting for the next segment write
 * (written at `segmentSize` items or `spillFlushMs` after it started filling; at most
 * `maxSpillBuffer` items, beyond which messages are refused with `full`). Messages are refused
 * too while the segment files hold `maxSpillBytes` or more (the buffer may still add to them,
 * so the files stay within that plus one buffer's worth). Replay appends whole
 * segments to the queue until a batch is full; a segment's file goes once all its items are
 * delivered. Messages the receiver does not store (`Receiver.accepts`) are never queued.
 *
 * The loop takes one batch per turn of the event loop, and while `holdWhile` (the ingress meter)
 * says a burst is coming in, it waits: up to `maxHoldMs` for the oldest message and half of
 * `maxQueue`, so holding back never drops or spills anything.
 *
 * Its parts, each tested alone: the memory queue (item_queue.ts), a durable receiver's spill
 * side and replay order (queue_spill.ts, built on spill_buffer.ts and spill.ts), the retry and
 * hold policy (delivery_policy.ts), the loop's sleep and wake-ups (wake_signal.ts). What stays
 * here is the loop and the overflow choice.
 */
import { createRetry, failAfter, nextTurn, shouldHold, sleep, within } from "./delivery_policy.ts";
import type { Message } from "./message.ts";
import { createItemQueue } from "./item_queue.ts";
import { createQueueSpill, type QueueSpillStats } from "./queue_spill.ts";
import type { QueueItem } from "./queue_item.ts";
import type { Receiver } from "./receiver.ts";
import { createWakeSignal } from "./wake_signal.ts";

export type { QueueItem };

/**
 * Where a pushed item went. `filtered`: the receiver does not store it (`Receiver.accepts`);
 * `full`: refused, the durable receiver's spill buffer is at its bound (the agent retries).
 */
export type PushResult = "queued" | "spilled" | "dropped_oldest" | "closed" | "filtered" | "full";

/** Every PushResult, for counters keyed by outcome. */
export const PUSH_RESULTS: readonly PushResult[] = [
  "queued",
  "spilled",
  "dropped_oldest",
  "closed",
  "filtered",
  "full",
];

export interface RunnerOptions {
  /** Most messages handed to `receive` at once (default 500). */
  maxBatch?: number;
  /** Items kept in memory; beyond it durable receivers spill, live ones drop the oldest (default 10,000). */
  maxQueue?: number;
  /**
   * Bytes of the queued messages (their `Message.bytes`, the size they came in with) kept in
   * memory; beyond it durable receivers spill and live ones drop the oldest, as at `maxQueue`
   * (default: no bound).
   */
  maxQueueBytes?: number;
  /** Wait this long for a batch to fill when the queue is short (default 0; never while replaying). */
  lingerMs?: number;
  /** Spill directory (durable receivers only). */
  spillDir?: string;
  /**
   * Backoff: first delay and cap, in ms (defaults 100 and 5,000). The cap bounds how long a sink
   * that came back waits for its first write; an attempt against a dead sink costs little.
   */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Attempts per batch for live receivers before the batch is dropped (default 3). */
  liveAttempts?: number;
  /** Most items written per spill segment (default 1,000). */
  segmentSize?: number;
  /** A spill segment is written once `segmentSize` items wait, or this long after the first (default 100). */
  spillFlushMs?: number;
  /**
   * Items a durable receiver holds in memory waiting for a spill write (default 20,000). At the
   * bound `push` refuses messages and inactive events with `full`.
   */
  maxSpillBuffer?: number;
  /** Bytes of messages waiting for a spill write at which messages are refused with `full` (default: no bound). */
  maxSpillBufferBytes?: number;
  /** Bytes of spill files on disk at which messages are refused with `full` (default: no bound). */
  maxSpillBytes?: number;
  /**
   * A durable receiver whose batch has been going out this long (failing, or hanging) writes the
   * memory queue behind it to the spill, so that a crash during a long outage loses at most that
   * batch (default 5,000 ms; Infinity: never).
   */
  spillAfterFailingMs?: number;
  /** How long the receiver's `close()` may take at shutdown, after its queue was drained or saved (5,000 ms). */
  closeTimeoutMs?: number;
  /** While this says busy (a burst of incoming frames), delivery waits; see `maxHoldMs`. */
  holdWhile?: { busy(): boolean };
  /**
   * Longest a message waits in the queue because of `holdWhile` (default 2,000 ms); the queue
   * is not held beyond half of `maxQueue` either, nor while stopping or replaying.
   */
  maxHoldMs?: number;
}

/** Counters of one runner, for /metrics. */
export interface RunnerStats {
  queue_depth: number;
  /** Bytes of the messages in the memory queue, and in the spill buffer (`Message.bytes`). */
  queue_bytes: number;
  spill_buffer_bytes: number;
  spill_buffered: number;
  spill_pending: number;
  spill_bytes: number;
  spilled_total: number;
  replayed_total: number;
  batches_total: number;
  delivered_total: number;
  retries_total: number;
  errors_total: number;
  dropped_total: number;
  filtered_total: number;
  refused_total: number;
  /** Times delivery waited for a burst of incoming frames to pass (`holdWhile`). */
  held_total: number;
  /** Spill segments that could not be read back, set aside as `.corrupt`, and their items. */
  spill_corrupt_segments: number;
  spill_corrupt_items: number;
  /** Times the delivery loop failed unexpectedly (it starts again a second later). */
  loop_crashes: number;
}

/** The queue and loop of one receiver. */
export interface ReceiverRunner {
  readonly receiver: Receiver;
  /** Whether the receiver stores this message (`Receiver.accepts`; true when it has no filter). */
  accepts(message: Message): boolean;
  /** True while a message pushed now would be refused (`full`). */
  full(): boolean;
  /** Whether the receiver's `init` has succeeded (it is retried until it does). */
  initialized(): boolean;
  push(item: QueueItem): PushResult;
  /** Opens the spill store and starts the loop (init and replay happen in the loop). */
  start(): Promise<void>;
  /**
   * Stops taking items and delivers what is queued (and spilled) within `timeoutMs`. A durable
   * receiver's undelivered items are then written to its spill directory for the next start.
   */
  drain(timeoutMs: number): Promise<void>;
  stats(): RunnerStats;
}

/** How often a held loop looks again whether the burst is over. */
const HOLD_POLL_MS = 20;

/** The spill counters of a live receiver, which has none. */
const NO_SPILL: QueueSpillStats = {
  spill_buffer_bytes: 0,
  spill_buffered: 0,
  spill_pending: 0,
  spill_bytes: 0,
  spilled_total: 0,
  replayed_total: 0,
  spill_corrupt_segments: 0,
  spill_corrupt_items: 0,
};

/** Creates the runner of one receiver. */
export function createReceiverRunner(receiver: Receiver, options: RunnerOptions = {}): ReceiverRunner {
  const maxBatch = options.maxBatch ?? 500;
  const maxQueue = options.maxQueue ?? 10_000;
  const lingerMs = options.lingerMs ?? 0;
  const baseMs = options.retryBaseMs ?? 100;
  const capMs = options.retryCapMs ?? 5_000;
  const liveAttempts = options.liveAttempts ?? 3;
  const maxQueueBytes = options.maxQueueBytes ?? Infinity;
  const maxHoldMs = options.maxHoldMs ?? 2_000;
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const durable = receiver.durable;
  if (durable && !options.spillDir) throw new Error(`durable receiver ${receiver.id} needs a spillDir`);

  const queue = createItemQueue();
  const depth = () => queue.depth;
  const overQueue = () => queue.depth >= maxQueue || queue.bytes >= maxQueueBytes;
  /** The loop's sleep: woken by pushes (once per turn), by the spill buffer and by drain. */
  const wakeUp = createWakeSignal(() => depth() >= maxBatch);

  let accepting = true;
  let stopping = false;
  const stopSignal = new AbortController();

  /** A durable receiver's spill files and buffer, and the replay order (queue_spill.ts). */
  const side = durable
    ? createQueueSpill({
      label: receiver.id,
      dir: options.spillDir!,
      queue,
      maxBatch,
      maxQueue,
      segmentSize: options.segmentSize ?? 1000,
      spillFlushMs: options.spillFlushMs ?? 100,
      maxSpillBuffer: options.maxSpillBuffer ?? 20_000,
      maxSpillBufferBytes: options.maxSpillBufferBytes ?? Infinity,
      maxSpillBytes: options.maxSpillBytes ?? Infinity,
      spillAfterFailingMs: options.spillAfterFailingMs ?? 5_000,
      stopping: () => stopping,
      signal: stopSignal.signal,
      onSettled: () => wakeUp.notify(),
    })
    : null;
  const retry = createRetry({
    baseMs,
    capMs,
    attempts: durable ? Infinity : liveAttempts,
    signal: stopSignal.signal,
    label: receiver.id,
  });

  /** A receiver call, failing once `receiver.callTimeoutMs` passed without it settling (then abandoned). */
  const bounded = (result: Promise<void> | void) =>
    failAfter(result, receiver.callTimeoutMs, () => receiver.abandoned?.());

  let loopDone: Promise<void> = Promise.resolve();
  let initialized = false;

  const counters = {
    batches_total: 0,
    delivered_total: 0,
    dropped_total: 0,
    filtered_total: 0,
    refused_total: 0,
    held_total: 0,
    loop_crashes: 0,
  };

  /** Waits for `op`; a durable receiver moves its queue to disk if that takes long (queue_spill.ts). */
  function settled(op: boolean | Promise<boolean>, keep: number): boolean | Promise<boolean> {
    return side ? side.moveQueueIfSlow(op, keep) : op;
  }

  function full(): boolean {
    return side !== null && accepting && (side.diverting() || overQueue()) && side.full();
  }

  function accepts(message: Message): boolean {
    return receiver.accepts ? receiver.accepts(message) : true;
  }

  function push(item: QueueItem): PushResult {
    // Inactive events only for a receiver that takes them: they had split the statistics tables'
    // batches and filled their spill (an agent may say /bye under any number of ids).
    if (item.kind === "message" ? !accepts(item.message) : receiver.inactive === undefined) {
      counters.filtered_total++;
      return "filtered";
    }
    if (!accepting) {
      counters.dropped_total++;
      return "closed";
    }
    if (side) {
      if (side.diverting() || overQueue()) {
        // Past the spill's bound an inactive event is refused as a message is (nobody retries it:
        // it is lost, counted): /bye under made-up ids had filled the disk past `maxSpillBytes`.
        if (side.full()) {
          counters.refused_total++;
          return "full";
        }
        side.add(item);
        return "spilled";
      }
      queue.push(item);
      wakeUp.notifySoon();
      return "queued";
    }
    let result: PushResult = "queued";
    while (overQueue() && depth() > 0) {
      queue.take(1);
      counters.dropped_total++;
      result = "dropped_oldest";
    }
    queue.push(item);
    wakeUp.notifySoon();
    return result;
  }

  function hold(): boolean {
    if (!options.holdWhile) return false; // most receivers: no object, no clock read per batch
    return shouldHold({
      holdWhile: options.holdWhile,
      maxHoldMs,
      maxQueue,
      urgent: stopping || (side?.diverting() ?? false),
      depth: depth(),
      first: queue.first()!,
    });
  }

  const closedOut = () => side?.closedOut() ?? false;

  async function loop(): Promise<void> {
    while (!initialized) {
      if (!receiver.init) {
        initialized = true;
        break;
      }
      // An init failing for long (the database away at a restart) moves the queue to disk too.
      const ok = await settled(retry.run("init", () => bounded(receiver.init!())), 0);
      if (ok) initialized = true;
      else if (stopSignal.signal.aborted) return;
    }
    while (!closedOut()) {
      if (side?.replaying()) await side.topUp();
      if (closedOut()) return;
      if (depth() === 0) {
        if (stopping) return;
        await wakeUp.wait();
        continue;
      }
      if (hold()) {
        counters.held_total++;
        do await sleep(HOLD_POLL_MS, stopSignal.signal); while (hold());
        continue;
      }
      // No linger while replaying: the spill has a batch ready, and more is waiting behind it.
      if (lingerMs > 0 && depth() < maxBatch && !stopping && !side?.diverting()) {
        await wakeUp.linger(lingerMs);
      }
      const first = queue.first()!;
      // A durable item stays queued while it goes out: drain spills it if it is not done (a late
      // success is written again: idempotent). A live one leaves the queue now, so that
      // drop-oldest only drops what waits behind it (the queue holds at most maxQueue items
      // besides the one or the batch in flight), never items whose place newer ones would take.
      const batch = first.kind === "inactive" ? null : queue.messages(maxBatch);
      const count = batch ? batch.length : 1;
      if (!side) queue.take(count);
      // A receiver that took the batch synchronously (the live ones) costs no promise here.
      const sent = first.kind === "inactive"
        ? retry.run("inactive", () => bounded(receiver.inactive?.(first.agentId)))
        : retry.run("receive", () => bounded(receiver.receive(batch!)));
      const ok = sent === true || await settled(sent, count);
      if (closedOut()) return;
      const stopped = !ok && stopSignal.signal.aborted;
      if (ok && batch) {
        counters.batches_total++;
        counters.delivered_total += count;
      } else if (!ok && !(side && stopped)) {
        counters.dropped_total += count;
      }
      if (stopped) return;
      if (side) {
        const delivered = queue.take(count);
        if (delivered.length > 0) await side.removeDelivered(delivered);
      }
      // One batch per turn: a receiver that finished synchronously would otherwise take the
      // whole backlog in one macrotask, and every socket read and ping answer would wait for it.
      if (depth() > 0) await nextTurn();
    }
  }

  return {
    receiver,
    accepts,
    full,
    initialized: () => initialized,
    push,
    async start() {
      const pending = side ? await side.open() : 0;
      if (pending > 0) console.warn(`receiver ${receiver.id}: replaying ${pending} spilled item(s)`);
      loopDone = (async () => {
        while (true) {
          try {
            return await loop();
          } catch (err) {
            // An unexpected failure (a spill file that cannot be read, say) once stopped delivery
            // for good while reports kept being accepted and spilled behind it.
            if (counters.loop_crashes++ % 60 === 0) {
              console.error(`receiver ${receiver.id}: delivery loop failed (starting it again in 1 s):`, err);
            }
            if (stopping || closedOut()) return;
            await sleep(1000, stopSignal.signal);
            if (stopping || closedOut()) return;
          }
        }
      })();
    },
    async drain(timeoutMs) {
      accepting = false;
      stopping = true;
      side?.flushSoon(); // at once, no flush timer while stopping
      wakeUp.notify();
      const result = await within(loopDone.then(() => "done" as const), timeoutMs);
      stopSignal.abort();
      wakeUp.notify();
      if (result === "timeout") {
        console.warn(
          `receiver ${receiver.id}: drain timed out with ${depth()} item(s) queued` +
            (side ? ": written to its spill directory, delivered after the next start" : ": dropped"),
        );
      }
      if (side) await side.saveAll(result === "timeout");
      else if (depth() > 0) counters.dropped_total += depth();
      if (initialized && receiver.close) {
        // Bounded too: the web receiver's last block save waited on a frozen Postgres, and the
        // service never stopped. What is not written by then is the receiver's own (its queue is
        // saved above).
        const closing = Promise.resolve().then(() => receiver.close!());
        const closed = await within(
          closing.catch((err) => console.error(`receiver ${receiver.id}: close failed:`, err)),
          closeTimeoutMs,
        );
        if (closed === "timeout") {
          const seconds = closeTimeoutMs / 1000;
          console.warn(
            `receiver ${receiver.id}: close did not finish within ${seconds} s; stopping without it`,
          );
        }
      }
    },
    stats() {
      const spillStats = side?.stats() ?? NO_SPILL;
      return {
        queue_depth: depth() + spillStats.spill_buffered,
        queue_bytes: queue.bytes,
        ...spillStats,
        ...counters,
        retries_total: retry.retries(),
        errors_total: retry.errors(),
      };
    },
  };
}
