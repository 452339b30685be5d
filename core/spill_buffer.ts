/**
 * A durable receiver's spill buffer: the newest items, waiting in memory to be written to the
 * spill store as one segment. A segment is written once `segmentSize` items wait, or
 * `flushMs` after the first arrived, or at once while stopping; one write at a time. A failed
 * write puts its items back in front (they are older than the rest) and is tried again after a
 * second; meanwhile they are waiting items like the others, which replay may take back (a sink
 * that is back gets them while the disk stays full). Items of the write in flight still count
 * against the bounds: they are only in memory until the write is done.
 */
import { errorText } from "./error_text.ts";
import { sizeOf, sumOf } from "./item_queue.ts";
import type { QueueItem } from "./queue_item.ts";
import type { SpillStore } from "./spill.ts";

export interface SpillBufferOptions {
  /** The store; undefined until it is opened (items wait in memory until then). */
  store(): SpillStore | undefined;
  /** Most items per segment. */
  segmentSize: number;
  /** A segment is written this long after its first item, if it has not filled before. */
  flushMs: number;
  /** Items (and their bytes, `Message.bytes`) at which `atBound()` says the buffer takes no more. */
  maxItems: number;
  maxBytes: number;
  /** While true, a segment is written as soon as there is something to write, and not rescheduled. */
  stopping(): boolean;
  /** Aborted on shutdown: ends the pause after a failed write. */
  signal: AbortSignal;
  /** After every write, written or failed (the runner's loop may be waiting for it). */
  onSettled(): void;
  /** Name in the log lines. */
  label: string;
}

export interface SpillBuffer {
  /** Items in memory: waiting, and in the write in flight. */
  items(): number;
  /** Their bytes. */
  bytes(): number;
  /** Items waiting for a write (not the one in flight). */
  waiting(): number;
  /** The write in flight, if any (not the pause after a failed one). */
  writing(): Promise<void> | null;
  /** Items written to the store so far. */
  written(): number;
  /** At its bound in items or bytes: the runner refuses messages. */
  atBound(): boolean;
  /** Adds the newest item and schedules a write. */
  add(item: QueueItem): void;
  /** Writes now if a segment's worth waits (or stopping), else within `flushMs`. */
  schedule(): void;
  /** Takes the oldest `max` waiting items back, all by default (replay reached them before they were written). */
  takeWaiting(max?: number): QueueItem[];
  /** Shutdown: after the write in flight, writes everything still waiting, in segments. */
  flush(): Promise<void>;
  /** Cancels a scheduled write, and the pause after a failed one. */
  cancel(): void;
}

export function createSpillBuffer(options: SpillBufferOptions): SpillBuffer {
  const { segmentSize, flushMs, maxItems, maxBytes } = options;
  let waiting: QueueItem[] = [];
  let waitingBytes = 0;
  let writing: Promise<void> | null = null;
  let writingItems = 0;
  let writingBytes = 0;
  let written = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** The second after a failed write: no write starts (the items wait, and may be taken back). */
  let pause: ReturnType<typeof setTimeout> | undefined;

  function cancel(): void {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
  }

  function endPause(): void {
    if (pause === undefined) return;
    clearTimeout(pause);
    pause = undefined;
  }
  options.signal.addEventListener("abort", endPause, { once: true });

  function schedule(): void {
    if (!options.store() || writing || pause !== undefined || waiting.length === 0) return;
    if (waiting.length >= segmentSize || options.stopping()) return write();
    timer ??= setTimeout(write, flushMs);
  }

  function write(): void {
    cancel();
    const store = options.store();
    if (!store || writing || pause !== undefined || waiting.length === 0) return;
    const items = waiting.splice(0, segmentSize);
    writingItems = items.length;
    writingBytes = sumOf(items);
    waitingBytes -= writingBytes;
    writing = store.append(items)
      .then(() => {
        written += items.length;
      })
      .catch((err) => {
        console.error(
          `receiver ${options.label}: spill write failed, keeping items in memory: ${errorText(err)}`,
        );
        // Back among the waiting ones, counted there only (they were counted twice: /data
        // refused at half the bound, spill_buffered doubled), until the next try in a second.
        writingItems = 0;
        writingBytes = 0;
        waiting = items.concat(waiting);
        waitingBytes += sumOf(items);
        if (options.signal.aborted) return;
        pause = setTimeout(() => {
          pause = undefined;
          if (!options.stopping()) schedule();
          options.onSettled();
        }, 1000);
      })
      .finally(() => {
        writing = null;
        writingItems = 0;
        writingBytes = 0;
        if (!options.stopping()) schedule();
        options.onSettled();
      });
  }

  return {
    items: () => waiting.length + writingItems,
    bytes: () => waitingBytes + writingBytes,
    waiting: () => waiting.length,
    writing: () => writing,
    written: () => written,
    atBound: () => waiting.length + writingItems >= maxItems || waitingBytes + writingBytes >= maxBytes,
    add(item) {
      waiting.push(item);
      waitingBytes += sizeOf(item);
      schedule();
    },
    schedule,
    takeWaiting(max = Infinity) {
      if (max >= waiting.length) {
        cancel();
        const items = waiting;
        waiting = [];
        waitingBytes = 0;
        return items;
      }
      const items = waiting.splice(0, max);
      waitingBytes -= sumOf(items);
      return items;
    },
    async flush() {
      cancel();
      if (writing) await writing.catch(() => {});
      const store = options.store();
      if (!store) return;
      while (waiting.length > 0) {
        // Taken off only once written: a failed write (a full disk) keeps them for a retry.
        const items = waiting.slice(0, segmentSize);
        await store.append(items);
        waiting.splice(0, items.length);
        waitingBytes -= sumOf(items);
        written += items.length;
      }
    },
    cancel() {
      cancel();
      endPause();
    },
  };
}
