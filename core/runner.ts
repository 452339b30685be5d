/**
 * One receiver's bounded async queue and delivery loop: batches, retries with capped
 * exponential backoff, overflow (drop-oldest for live receivers, spill-to-disk for durable
 * ones), replay of spilled segments in order, and a bounded drain on shutdown.
 */
import type { Message } from "./message.ts";
import { openSpillStore, type SpillStore } from "./spill.ts";
import type { Receiver } from "../receivers/types.ts";

/** What travels through a receiver queue: a message, or an agent gone inactive. */
export type QueueItem =
  | { kind: "message"; message: Message }
  | { kind: "inactive"; agentId: string };

/** Where a pushed item went. */
export type PushResult = "queued" | "spilled" | "dropped_oldest" | "closed";

export interface RunnerOptions {
  /** Most messages handed to `receive` at once (default 500). */
  maxBatch?: number;
  /** Items kept in memory; beyond it durable receivers spill, live ones drop the oldest (default 10,000). */
  maxQueue?: number;
  /** Wait this long for a batch to fill when the queue is short (default 0). */
  lingerMs?: number;
  /** Spill directory (durable receivers only). */
  spillDir?: string;
  /** Backoff: first delay and cap, in ms (defaults 100 and 30,000). */
  retryBaseMs?: number;
  retryCapMs?: number;
  /** Attempts per batch for live receivers before the batch is dropped (default 3). */
  liveAttempts?: number;
  /** Items written per spill segment (default 1,000). */
  segmentSize?: number;
}

/** Counters of one runner, for /metrics. */
export interface RunnerStats {
  queue_depth: number;
  spill_pending: number;
  spilled_total: number;
  replayed_total: number;
  batches_total: number;
  delivered_total: number;
  retries_total: number;
  errors_total: number;
  dropped_total: number;
}

/** The queue and loop of one receiver. */
export interface ReceiverRunner {
  readonly receiver: Receiver;
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

/** Sleeps `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Creates the runner of one receiver. */
export function createReceiverRunner(receiver: Receiver, options: RunnerOptions = {}): ReceiverRunner {
  const maxBatch = options.maxBatch ?? 500;
  const maxQueue = options.maxQueue ?? 10_000;
  const lingerMs = options.lingerMs ?? 0;
  const baseMs = options.retryBaseMs ?? 100;
  const capMs = options.retryCapMs ?? 30_000;
  const liveAttempts = options.liveAttempts ?? 3;
  const segmentSize = options.segmentSize ?? 1000;
  const durable = receiver.durable;
  if (durable && !options.spillDir) throw new Error(`durable receiver ${receiver.id} needs a spillDir`);

  // Array with a moving head: O(1) dequeue without shifting.
  let queue: QueueItem[] = [];
  let head = 0;
  const depth = () => queue.length - head;

  let spill: SpillStore | undefined;
  /** Items waiting to be written as spill segments (newest of all). */
  let spillBuffer: QueueItem[] = [];
  let spillWriting: Promise<void> | null = null;
  /** While true, new items go behind the spilled ones to keep order. */
  let spillMode = false;
  /** The segment whose items are being delivered from memory, and how many remain. */
  let replaying: { name: string; remaining: number } | null = null;

  let accepting = true;
  let stopping = false;
  const stopSignal = new AbortController();
  let wake: (() => void) | null = null;
  let loopDone: Promise<void> = Promise.resolve();
  let initialized = false;

  const counters: Omit<RunnerStats, "queue_depth" | "spill_pending"> = {
    spilled_total: 0,
    replayed_total: 0,
    batches_total: 0,
    delivered_total: 0,
    retries_total: 0,
    errors_total: 0,
    dropped_total: 0,
  };

  function notify(): void {
    const w = wake;
    wake = null;
    w?.();
  }

  let wakeScheduled = false;
  /**
   * Wakes an idle loop on the next macrotask rather than at once, so the items pushed by every
   * request handled in this turn of the event loop go out as one batch, not one call each.
   */
  function notifySoon(): void {
    if (wake === null || wakeScheduled) return;
    wakeScheduled = true;
    setTimeout(() => {
      wakeScheduled = false;
      notify();
    }, 0);
  }

  function waitForWork(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(() => notify(), ms);
    });
  }

  function compact(): void {
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
  }

  function flushSpillBuffer(): void {
    if (spillWriting || spillBuffer.length === 0 || !spill) return;
    const store = spill;
    const items = spillBuffer.splice(0, segmentSize);
    spillWriting = store.append(items)
      .then(() => {
        counters.spilled_total += items.length;
      })
      .catch((err) => {
        // Keep them in memory (in front: they are older than the rest of the buffer).
        console.error(`receiver ${receiver.id}: spill write failed, keeping items in memory:`, err);
        spillBuffer = items.concat(spillBuffer);
        return sleep(1000, stopSignal.signal);
      })
      .finally(() => {
        spillWriting = null;
        if (!stopping) flushSpillBuffer();
        notify();
      });
  }

  function push(item: QueueItem): PushResult {
    if (!accepting) {
      counters.dropped_total++;
      return "closed";
    }
    if (durable) {
      if (spillMode || depth() >= maxQueue) {
        spillMode = true;
        spillBuffer.push(item);
        flushSpillBuffer();
        return "spilled";
      }
      queue.push(item);
      notifySoon();
      return "queued";
    }
    let result: PushResult = "queued";
    if (depth() >= maxQueue) {
      head++;
      counters.dropped_total++;
      result = "dropped_oldest";
      compact();
    }
    queue.push(item);
    notifySoon();
    return result;
  }

  /** Loads the oldest spilled segment into the (empty) queue; false when nothing is spilled. */
  async function refill(): Promise<boolean> {
    if (!spill) return false;
    if (replaying) {
      await spill.remove(replaying.name);
      replaying = null;
    }
    const segment = await spill.oldest();
    if (segment) {
      queue = segment.items;
      head = 0;
      replaying = { name: segment.name, remaining: segment.items.length };
      counters.replayed_total += segment.items.length;
      return true;
    }
    if (spillWriting) {
      await spillWriting;
      return true;
    }
    if (spillBuffer.length > 0) {
      // Nothing on disk: the unwritten buffer is the oldest now; take it straight back.
      queue = spillBuffer;
      head = 0;
      spillBuffer = [];
      spillMode = false;
      return true;
    }
    spillMode = false;
    return false;
  }

  function backoff(attempt: number): number {
    const exp = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
    return exp / 2 + Math.random() * exp / 2;
  }

  /** Runs `op` until it succeeds (durable) or up to `liveAttempts` (live). False = gave up. */
  async function withRetry(what: string, op: () => Promise<void> | void): Promise<boolean> {
    for (let attempt = 0;; attempt++) {
      try {
        await op();
        return true;
      } catch (err) {
        counters.errors_total++;
        if (attempt === 0 || attempt % 10 === 0) {
          console.error(`receiver ${receiver.id}: ${what} failed (attempt ${attempt + 1}):`, err);
        }
        if (stopSignal.signal.aborted) return false;
        if (!durable && attempt + 1 >= liveAttempts) return false;
        counters.retries_total++;
        await sleep(backoff(attempt), stopSignal.signal);
        if (stopSignal.signal.aborted) return false;
      }
    }
  }

  function take(n: number): void {
    head += n;
    if (replaying) replaying.remaining -= n;
    compact();
  }

  async function loop(): Promise<void> {
    while (!initialized) {
      if (!receiver.init) {
        initialized = true;
        break;
      }
      const ok = await withRetry("init", () => receiver.init!());
      if (ok) initialized = true;
      else if (stopSignal.signal.aborted) return;
    }
    while (true) {
      if (depth() === 0) {
        if (await refill()) continue;
        if (stopping) return;
        await waitForWork();
        continue;
      }
      if (lingerMs > 0 && depth() < maxBatch && !stopping) await waitForWork(lingerMs);
      const first = queue[head]!;
      if (first.kind === "inactive") {
        const ok = await withRetry("inactive", () => receiver.inactive?.(first.agentId));
        if (!ok && stopSignal.signal.aborted) return;
        if (!ok) counters.dropped_total++;
        take(1);
        continue;
      }
      const batch: Message[] = [];
      for (let i = head; i < queue.length && batch.length < maxBatch; i++) {
        const item = queue[i]!;
        if (item.kind !== "message") break;
        batch.push(item.message);
      }
      const ok = await withRetry("receive", () => receiver.receive(batch));
      if (!ok && stopSignal.signal.aborted) return; // items stay queued; drain spills them
      if (ok) {
        counters.batches_total++;
        counters.delivered_total += batch.length;
      } else {
        counters.dropped_total += batch.length;
      }
      take(batch.length);
    }
  }

  /** Durable shutdown: write whatever is still in memory to disk, in order. */
  async function spillRemainder(): Promise<void> {
    if (!spill) return;
    if (spillWriting) await spillWriting.catch(() => {});
    if (replaying && replaying.remaining <= 0) {
      await spill.remove(replaying.name);
      replaying = null;
    }
    // Queue items from a replayed segment are still in that segment's file.
    const fromSegment = replaying ? Math.max(0, replaying.remaining) : 0;
    const rest = queue.slice(head + fromSegment);
    if (rest.length > 0) {
      if (replaying) await spill.append(rest); // cannot happen today; keeps order if it does
      else await spill.prepend(rest);
      counters.spilled_total += rest.length;
    }
    while (spillBuffer.length > 0) {
      const items = spillBuffer.splice(0, segmentSize);
      await spill.append(items);
      counters.spilled_total += items.length;
    }
    queue = [];
    head = 0;
  }

  return {
    receiver,
    push,
    async start() {
      if (durable) {
        spill = await openSpillStore(options.spillDir!);
        if (spill.segments > 0) {
          spillMode = true;
          console.warn(`receiver ${receiver.id}: replaying ${spill.pendingItems} spilled item(s)`);
        }
      }
      loopDone = loop().catch((err) => {
        console.error(`receiver ${receiver.id}: delivery loop crashed:`, err);
      });
    },
    async drain(timeoutMs) {
      accepting = false;
      stopping = true;
      notify();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), timeoutMs);
      });
      const result = await Promise.race([loopDone.then(() => "done" as const), timedOut]);
      clearTimeout(timer);
      stopSignal.abort();
      notify();
      if (result === "timeout") {
        console.warn(`receiver ${receiver.id}: drain timed out with ${depth()} item(s) queued`);
      }
      if (durable) {
        if (result === "timeout" || depth() > 0 || spillBuffer.length > 0) await spillRemainder();
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
        queue_depth: depth() + spillBuffer.length,
        spill_pending: spill?.pendingItems ?? 0,
        ...counters,
      };
    },
  };
}
