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
 * Its parts, each tested alone: the memory queue (item_queue.ts), the spill buffer
 * (spill_buffer.ts), the segment files (spill.ts), the retry and hold policy
 * (delivery_policy.ts), the loop's sleep and wake-ups (wake_signal.ts). What stays here is the
 * loop, the overflow choice and the replay order.
 */
import { createRetry, nextTurn, shouldHold, sleep } from "./delivery_policy.ts";
import type { Message } from "./message.ts";
import { createItemQueue } from "./item_queue.ts";
import type { QueueItem } from "./queue_item.ts";
import type { Receiver } from "./receiver.ts";
import { createSpillBuffer } from "./spill_buffer.ts";
import { openSpillStore, prependInOrder, type SpillStore } from "./spill.ts";
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
   * bound `push` refuses messages with `full` (inactive events are always taken).
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

/** Creates the runner of one receiver. */
export function createReceiverRunner(receiver: Receiver, options: RunnerOptions = {}): ReceiverRunner {
  const maxBatch = options.maxBatch ?? 500;
  const maxQueue = options.maxQueue ?? 10_000;
  const lingerMs = options.lingerMs ?? 0;
  const baseMs = options.retryBaseMs ?? 100;
  const capMs = options.retryCapMs ?? 5_000;
  const liveAttempts = options.liveAttempts ?? 3;
  const segmentSize = options.segmentSize ?? 1000;
  const spillFlushMs = options.spillFlushMs ?? 100;
  const maxSpillBuffer = options.maxSpillBuffer ?? 20_000;
  const maxSpillBytes = options.maxSpillBytes ?? Infinity;
  const maxQueueBytes = options.maxQueueBytes ?? Infinity;
  const maxSpillBufferBytes = options.maxSpillBufferBytes ?? Infinity;
  const maxHoldMs = options.maxHoldMs ?? 2_000;
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

  let spill: SpillStore | undefined;
  /** Items waiting to be written as spill segments (newest of all). */
  const spillBuffer = createSpillBuffer({
    store: () => spill,
    segmentSize,
    flushMs: spillFlushMs,
    maxItems: maxSpillBuffer,
    maxBytes: maxSpillBufferBytes,
    stopping: () => stopping,
    signal: stopSignal.signal,
    onSettled: () => wakeUp.notify(),
    label: receiver.id,
  });
  const spillAfterFailingMs = options.spillAfterFailingMs ?? 5_000;
  const retry = createRetry({
    baseMs,
    capMs,
    attempts: durable ? Infinity : liveAttempts,
    signal: stopSignal.signal,
    label: receiver.id,
  });
  /** spillQueueTail at work: the loop waits for it before it takes the delivered batch off. */
  let movingTail: Promise<void> | null = null;
  /** While true, new items go behind the spilled ones to keep order. */
  let spillMode = false;
  /** Segments loaded into the queue whose files are still on disk, and the newest of them. */
  let loadedSegments = 0;
  let lastLoaded: string | null = null;
  /** Set once drain wrote the remainder to disk: a late loop turn must not touch the queue. */
  let closedOut = false;
  /** The loop's removal of delivered segment files, awaited by drain before it returns. */
  let removing: Promise<void> = Promise.resolve();

  let loopDone: Promise<void> = Promise.resolve();
  let initialized = false;

  /** `spilled_total` counts the memory queue written out at shutdown; the buffer counts its own. */
  const counters: Omit<
    RunnerStats,
    | "queue_depth"
    | "queue_bytes"
    | "spill_buffer_bytes"
    | "spill_buffered"
    | "spill_pending"
    | "spill_bytes"
    | "retries_total"
    | "errors_total"
    | "spill_corrupt_segments"
    | "spill_corrupt_items"
  > = {
    spilled_total: 0,
    replayed_total: 0,
    batches_total: 0,
    delivered_total: 0,
    dropped_total: 0,
    filtered_total: 0,
    refused_total: 0,
    held_total: 0,
    loop_crashes: 0,
  };

  /** Removes the files of delivered segments. */
  async function removeSegments(names: string[]): Promise<void> {
    for (const name of names) {
      loadedSegments--;
      try {
        await spill!.remove(name);
      } catch (err) {
        // Left on disk it is replayed again at the next start; writes are idempotent.
        console.error(`receiver ${receiver.id}: removing spill segment ${name} failed:`, err);
      }
    }
  }

  /** The spill can take no more messages: its memory buffer or its files are at their bound. */
  function spillIsFull(): boolean {
    return spillBuffer.atBound() || (spill?.pendingBytes ?? 0) >= maxSpillBytes;
  }

  function full(): boolean {
    return durable && accepting && (spillMode || overQueue()) && spillIsFull();
  }

  function accepts(message: Message): boolean {
    return receiver.accepts ? receiver.accepts(message) : true;
  }

  function push(item: QueueItem): PushResult {
    if (item.kind === "message" && !accepts(item.message)) {
      counters.filtered_total++;
      return "filtered";
    }
    if (!accepting) {
      counters.dropped_total++;
      return "closed";
    }
    if (durable) {
      if (spillMode || overQueue()) {
        // Inactive events come from the service itself, nobody would retry them: always taken.
        if (item.kind === "message" && spillIsFull()) {
          counters.refused_total++;
          return "full";
        }
        spillMode = true;
        spillBuffer.add(item);
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

  /**
   * Fills the queue up to a batch from the spill, oldest first: segments from disk, then the
   * unwritten buffer once nothing is left on disk. Everything queued is older than everything
   * spilled, so appending keeps the order.
   */
  async function topUp(): Promise<void> {
    if (!spill) return;
    while (depth() < maxBatch && !closedOut) {
      if (spill.segments > loadedSegments) {
        const segment = loadedSegments > 0 && lastLoaded !== null
          ? await spill.next(lastLoaded)
          : await spill.oldest();
        if (!segment || closedOut) break;
        queue.pushRun(segment.items, segment.name);
        loadedSegments++;
        lastLoaded = segment.name;
        counters.replayed_total += segment.items.length;
        continue;
      }
      const writing = spillBuffer.writing();
      if (writing) {
        if (depth() > 0) break;
        await writing;
        continue;
      }
      if (spillBuffer.waiting() > 0) {
        // Nothing on disk is newer: the unwritten buffer is next. Taken straight back when it
        // fits the memory bound (or the queue is empty), else it goes out as a segment first.
        if (depth() > 0 && depth() + spillBuffer.waiting() > maxQueue) break;
        queue.pushRun(spillBuffer.takeWaiting(), null);
      }
      spillMode = false;
      break;
    }
  }

  function hold(): boolean {
    if (!options.holdWhile) return false; // most receivers: no object, no clock read per batch
    return shouldHold({
      holdWhile: options.holdWhile,
      maxHoldMs,
      maxQueue,
      urgent: stopping || spillMode,
      depth: depth(),
      first: queue.first()!,
    });
  }

  async function loop(): Promise<void> {
    while (!initialized) {
      if (!receiver.init) {
        initialized = true;
        break;
      }
      // An init failing for long (the database away at a restart) moves the queue to disk too.
      const ok = await moveQueueIfSlow(retry.run("init", () => receiver.init!()), 0);
      if (ok) initialized = true;
      else if (stopSignal.signal.aborted) return;
    }
    while (!closedOut) {
      if (spillMode || loadedSegments > 0) await topUp();
      if (closedOut) return;
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
      if (lingerMs > 0 && depth() < maxBatch && !stopping && !spillMode) {
        await wakeUp.linger(lingerMs);
      }
      const first = queue.first()!;
      // A durable item stays queued while it goes out: drain spills it if it is not done (a late
      // success is written again: idempotent). A live one leaves the queue now, so that
      // drop-oldest only drops what waits behind it (the queue holds at most maxQueue items
      // besides the one or the batch in flight), never items whose place newer ones would take.
      const batch = first.kind === "inactive" ? null : queue.messages(maxBatch);
      const count = batch ? batch.length : 1;
      if (!durable) queue.take(count);
      // A receiver that took the batch synchronously (the live ones) costs no promise here.
      const sent = first.kind === "inactive"
        ? retry.run("inactive", () => receiver.inactive?.(first.agentId))
        : retry.run("receive", () => receiver.receive(batch!));
      const ok = sent === true || await moveQueueIfSlow(sent, count);
      if (closedOut) return;
      const stopped = !ok && stopSignal.signal.aborted;
      if (ok && batch) {
        counters.batches_total++;
        counters.delivered_total += count;
      } else if (!ok && !(durable && stopped)) {
        counters.dropped_total += count;
      }
      if (stopped) return;
      if (durable) {
        const delivered = queue.take(count);
        if (delivered.length > 0) await (removing = removeSegments(delivered));
      }
      // One batch per turn: a receiver that finished synchronously would otherwise take the
      // whole backlog in one macrotask, and every socket read and ping answer would wait for it.
      if (depth() > 0) await nextTurn();
    }
  }

  /** What spillRemainder took from the queue and has not written yet, and the files it replaces. */
  let remainder: { items: QueueItem[]; loaded: string[] } | null = null;

  /**
   * Durable shutdown: write whatever is still in memory to disk, in order. A failed write (a full
   * disk) throws with nothing lost: called again, it goes on from where it stopped.
   */
  async function spillRemainder(): Promise<void> {
    if (!spill) return;
    closedOut = true;
    if (movingTail) await movingTail; // its segments go in front of these, in order
    spillBuffer.cancel();
    const inFlight = spillBuffer.writing();
    if (inFlight) await inFlight.catch(() => {});
    // The queue is older than everything on disk: it goes in front, in order, last chunk first.
    // Items of loaded segments are rewritten with it, then their files go.
    // Taken at once: a segment the loop is still reading stays on disk, out of this.
    if (remainder === null) {
      const { items, segments } = queue.takeAll();
      remainder = { items, loaded: segments };
      loadedSegments = 0;
    }
    const { items: rest, loaded } = remainder;
    const before = rest.length;
    try {
      await prependInOrder(spill, rest, segmentSize);
    } finally {
      counters.spilled_total += before - rest.length;
    }
    while (loaded.length > 0) {
      await spill.remove(loaded[0]!);
      loaded.shift();
    }
    await removing; // delivered segments the loop is still removing: gone before drain returns
    await spillBuffer.flush();
  }

  /**
   * Waits for `op` (a batch going out, or init); if it takes `spillAfterFailingMs`, the queue
   * behind its first `keep` items moves to disk meanwhile (spillQueueTail), and the wait ends only
   * once that move has, so the queue's head is as the loop left it.
   */
  async function moveQueueIfSlow(op: boolean | Promise<boolean>, keep: number): Promise<boolean> {
    if (op === true || op === false || !durable || spillAfterFailingMs === Infinity) return await op;
    const slow = setTimeout(() => {
      movingTail = spillQueueTail(keep).finally(() => movingTail = null);
    }, spillAfterFailingMs);
    try {
      return await op;
    } finally {
      clearTimeout(slow);
      if (movingTail) await movingTail;
    }
  }

  /**
   * A batch has been going out for `spillAfterFailingMs` (the sink fails, or hangs: a frozen
   * database answers nothing): what waits behind it, the `keep` items in flight, is written to
   * the spill (in front of what is there: it is older) and new items follow it there, so that a
   * crash during a long outage loses at most the batch in flight, not the whole memory queue.
   * Only items that live in memory alone (a replayed segment is on disk already). The loop waits
   * for this before it takes its batch off the queue, so the queue's head stays as it is.
   */
  async function spillQueueTail(keep: number): Promise<void> {
    if (!spill || closedOut) return;
    // What comes from now on goes to the spill, behind what is queued: also when nothing waits
    // yet (a quiet outage) or what waits cannot move (below), else it would pile up in memory.
    spillMode = true;
    // Not while a replay is under way: segments written in front of the one being read now
    // would be read only at the next start.
    if (loadedSegments > 0 || queue.depth <= keep) return;
    const rest = queue.memoryOnlyAfter(keep);
    if (rest === null) return;
    const count = rest.length;
    try {
      await prependInOrder(spill, rest, segmentSize);
    } catch (err) {
      console.error(`receiver ${receiver.id}: writing the queue to disk while the sink fails failed:`, err);
    } finally {
      // The chunks written are the queue's newest (the last chunk goes first): they leave it, the
      // rest (`rest` now, in front of them) stays in memory, so nothing is on disk and queued twice.
      queue.truncate(keep + rest.length);
      counters.spilled_total += count - rest.length;
    }
  }

  /** Items drain still has to write to disk (the remainder and the spill buffer). */
  function unsaved(): number {
    return (remainder?.items.length ?? depth()) + spillBuffer.waiting();
  }

  return {
    receiver,
    accepts,
    full,
    initialized: () => initialized,
    push,
    async start() {
      if (durable) {
        spill = await openSpillStore(options.spillDir!);
        if (spill.segments > 0) {
          spillMode = true;
          console.warn(`receiver ${receiver.id}: replaying ${spill.pendingItems} spilled item(s)`);
        }
      }
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
            if (stopping || closedOut) return;
            await sleep(1000, stopSignal.signal);
            if (stopping || closedOut) return;
          }
        }
      })();
    },
    async drain(timeoutMs) {
      accepting = false;
      stopping = true;
      spillBuffer.schedule(); // at once, no flush timer while stopping
      wakeUp.notify();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([loopDone.then(() => "done" as const), timedOut]);
      clearTimeout(timer);
      stopSignal.abort();
      wakeUp.notify();
      if (result === "timeout") {
        console.warn(`receiver ${receiver.id}: drain timed out with ${depth()} item(s) queued`);
      }
      if (durable) {
        if (result === "timeout" || depth() > 0 || spillBuffer.waiting() > 0) {
          // Accepted reports are not dropped because the disk is full: the write is tried again
          // every second until it works, or a second signal ends the process (exit code 130).
          for (let attempt = 0;; attempt++) {
            try {
              await spillRemainder();
              break;
            } catch (err) {
              if (attempt % 10 === 0) {
                console.error(
                  `receiver ${receiver.id}: ${unsaved()} accepted item(s) could not be written to disk ` +
                    `(${(err as Error).message}); trying again every second: free space, or send the ` +
                    "signal again to exit without them",
                );
              }
              await new Promise((resolve) => setTimeout(resolve, 1000));
            }
          }
        }
        spillBuffer.cancel();
      } else if (depth() > 0) {
        counters.dropped_total += depth();
      }
      if (initialized) {
        try {
          await receiver.close?.();
        } catch (err) {
          console.error(`receiver ${receiver.id}: close failed:`, err);
        }
      }
    },
    stats() {
      return {
        queue_depth: depth() + spillBuffer.items(),
        queue_bytes: queue.bytes,
        spill_buffer_bytes: spillBuffer.bytes(),
        spill_buffered: spillBuffer.items(),
        spill_pending: spill?.pendingItems ?? 0,
        spill_bytes: spill?.pendingBytes ?? 0,
        ...counters,
        spilled_total: counters.spilled_total + spillBuffer.written(),
        retries_total: retry.retries(),
        errors_total: retry.errors(),
        spill_corrupt_segments: spill?.corruptSegments ?? 0,
        spill_corrupt_items: spill?.corruptItems ?? 0,
      };
    },
  };
}
