/**
 * A durable receiver's spill side: where its items are besides the memory queue, and the order
 * they go out in. Items live in three places, oldest first: the memory queue, spill segment
 * files, and the spill buffer waiting for the next segment write. While the spill holds anything
 * (`diverting`), new items go behind it; replay (`topUp`) appends whole segments to the queue,
 * then the unwritten buffer; a segment's file goes once all its items are delivered
 * (`removeDelivered`). A batch going out for too long has the queue behind it moved to disk
 * (`moveQueueIfSlow`), and shutdown writes whatever is left in memory (`saveAll`).
 */
import { errorText } from "./error_text.ts";
import type { ItemQueue } from "./item_queue.ts";
import type { QueueItem } from "./queue_item.ts";
import { createSpillBuffer } from "./spill_buffer.ts";
import { openSpillStore, prependInOrder, type SpillStore } from "./spill.ts";

export interface QueueSpillOptions {
  /** The receiver's id, in log lines. */
  label: string;
  dir: string;
  /** The runner's memory queue (the loop takes batches from it; this side fills and trims it). */
  queue: ItemQueue;
  maxBatch: number;
  maxQueue: number;
  /** Most items per segment, and `spillFlushMs`: a segment is written at that size or that long after its first item. */
  segmentSize: number;
  spillFlushMs: number;
  /** Bounds of the spill buffer (items, bytes) and of the files on disk (bytes): `full()` beyond them. */
  maxSpillBuffer: number;
  maxSpillBufferBytes: number;
  maxSpillBytes: number;
  /** A batch out this long has the queue behind it moved to disk (Infinity: never). */
  spillAfterFailingMs: number;
  /** True once the runner is draining: segments are written at once. */
  stopping(): boolean;
  /** Aborted when the runner stops waiting. */
  signal: AbortSignal;
  /** After every segment write (the loop may be waiting for one). */
  onSettled(): void;
}

/** Counters of the spill side, part of the runner's stats. */
export interface QueueSpillStats {
  spill_buffer_bytes: number;
  spill_buffered: number;
  spill_pending: number;
  spill_bytes: number;
  spilled_total: number;
  replayed_total: number;
  spill_corrupt_segments: number;
  spill_corrupt_items: number;
}

export interface QueueSpill {
  /** Opens the segment files; returns how many items they hold (to replay). */
  open(): Promise<number>;
  /** New items go to the spill, behind what is there, to keep the order. */
  diverting(): boolean;
  /** The loop has to top the queue up from the spill before its next batch. */
  replaying(): boolean;
  /** The spill can take no more messages: its buffer or its files are at their bound. */
  full(): boolean;
  /** Adds the newest item to the spill (and diverts what follows). */
  add(item: QueueItem): void;
  /** Items in the spill buffer (waiting and being written). */
  buffered(): number;
  /** Fills the queue up to a batch from the spill, oldest first. */
  topUp(): Promise<void>;
  /** Removes the files of segments whose items were all delivered (names from `queue.take`). */
  removeDelivered(names: string[]): Promise<void>;
  /**
   * Waits for `op` (a batch going out, or init); if it takes `spillAfterFailingMs`, the queue
   * behind its first `keep` items moves to disk meanwhile.
   */
  moveQueueIfSlow(op: boolean | Promise<boolean>, keep: number): Promise<boolean>;
  /** Set once shutdown wrote the queue out: a late loop turn must not touch the queue. */
  closedOut(): boolean;
  /** Shutdown: writes the buffer at once, with no flush timer. */
  flushSoon(): void;
  /**
   * Shutdown: writes everything still in memory (queue and buffer) to disk, in order, when
   * anything is there or `force` (the loop may be mid-replay); a failed write (a full disk) is
   * tried again every second until it works (a second signal ends the process meanwhile).
   */
  saveAll(force: boolean): Promise<void>;
  stats(): QueueSpillStats;
}

export function createQueueSpill(options: QueueSpillOptions): QueueSpill {
  const { label, queue, maxBatch, maxQueue, segmentSize, spillAfterFailingMs } = options;
  let spill: SpillStore | undefined;
  const buffer = createSpillBuffer({
    store: () => spill,
    segmentSize,
    flushMs: options.spillFlushMs,
    maxItems: options.maxSpillBuffer,
    maxBytes: options.maxSpillBufferBytes,
    stopping: options.stopping,
    signal: options.signal,
    onSettled: options.onSettled,
    label,
  });
  /** While true, new items go behind the spilled ones to keep order. */
  let spillMode = false;
  /** Segments loaded into the queue whose files are still on disk, and the newest of them. */
  let loadedSegments = 0;
  let lastLoaded: string | null = null;
  let closedOut = false;
  /** spillQueueTail at work: the loop waits for it before it takes the delivered batch off. */
  let movingTail: Promise<void> | null = null;
  /** The loop's removal of delivered segment files, awaited by saveAll before it returns. */
  let removing: Promise<void> = Promise.resolve();
  /** What spillRemainder took from the queue and has not written yet, and the files it replaces. */
  let remainder: { items: QueueItem[]; loaded: string[] } | null = null;
  /** The memory queue written out (at shutdown, or behind a slow batch); the buffer counts its own. */
  let spilled = 0;
  let replayed = 0;

  async function removeSegments(names: string[]): Promise<void> {
    for (const name of names) {
      loadedSegments--;
      try {
        await spill!.remove(name);
      } catch (err) {
        // Left on disk it is replayed again at the next start; writes are idempotent.
        console.error(`receiver ${label}: removing spill segment ${name} failed:`, err);
      }
    }
  }

  /**
   * Everything queued is older than everything spilled, so appending keeps the order: segments
   * from disk, then the unwritten buffer once nothing is left on disk.
   */
  async function topUp(): Promise<void> {
    if (!spill) return;
    while (queue.depth < maxBatch && !closedOut) {
      if (spill.segments > loadedSegments) {
        const segment = loadedSegments > 0 && lastLoaded !== null
          ? await spill.next(lastLoaded)
          : await spill.oldest();
        if (!segment || closedOut) break;
        queue.pushRun(segment.items, segment.name);
        loadedSegments++;
        lastLoaded = segment.name;
        replayed += segment.items.length;
        continue;
      }
      const writing = buffer.writing();
      if (writing) {
        if (queue.depth > 0) break;
        await writing;
        continue;
      }
      if (buffer.waiting() > 0) {
        // Nothing on disk is newer: the unwritten buffer is next. Taken straight back when it
        // fits the memory bound, else it goes out as a segment first; into an empty queue, as much
        // as the bound takes (while spill writes fail the buffer holds up to maxSpillBuffer: taken
        // whole, queue and buffer held both bounds' worth, 1.75× the documented most).
        if (queue.depth > 0 && queue.depth + buffer.waiting() > maxQueue) break;
        queue.pushRun(buffer.takeWaiting(Math.max(1, maxQueue - queue.depth)), null);
        if (buffer.waiting() > 0) break; // the rest follows: new items go behind it
      }
      spillMode = false;
      break;
    }
  }

  /**
   * Durable shutdown: write whatever is still in memory to disk, in order. A failed write (a full
   * disk) throws with nothing lost: called again, it goes on from where it stopped.
   */
  async function spillRemainder(): Promise<void> {
    if (!spill) return;
    closedOut = true;
    if (movingTail) await movingTail; // its segments go in front of these, in order
    buffer.cancel();
    const inFlight = buffer.writing();
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
      spilled += before - rest.length;
    }
    while (loaded.length > 0) {
      const name = loaded.shift()!;
      await spill.remove(name).catch((err) => {
        // Its items are written in front already: it would be read again at the next start (twice,
        // after newer ones). Retried here it held shutdown for good ("0 accepted item(s) could
        // not be written"), a read-only directory never taking the removal.
        console.error(
          `receiver ${label}: removing replayed spill segment ${name} failed (read again at the next start):`,
          err,
        );
      });
    }
    await removing; // delivered segments the loop is still removing: gone before drain returns
    await buffer.flush();
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
      console.error(
        `receiver ${label}: writing the queue to disk while the sink fails failed: ${errorText(err)}`,
      );
    } finally {
      // The chunks written are the queue's newest (the last chunk goes first): they leave it, the
      // rest (`rest` now, in front of them) stays in memory, so nothing is on disk and queued twice.
      queue.truncate(keep + rest.length);
      spilled += count - rest.length;
    }
  }

  /** Items saveAll still has to write (the remainder and the spill buffer). */
  function unsaved(): number {
    return (remainder?.items.length ?? queue.depth) + buffer.waiting();
  }

  return {
    async open() {
      spill = await openSpillStore(options.dir);
      if (spill.segments > 0) spillMode = true;
      return spill.pendingItems;
    },
    diverting: () => spillMode,
    replaying: () => spillMode || loadedSegments > 0,
    full: () => buffer.atBound() || (spill?.pendingBytes ?? 0) >= options.maxSpillBytes,
    add(item) {
      spillMode = true;
      buffer.add(item);
    },
    buffered: () => buffer.items(),
    topUp,
    removeDelivered: (names) => removing = removeSegments(names),
    async moveQueueIfSlow(op, keep) {
      if (op === true || op === false || spillAfterFailingMs === Infinity) return await op;
      const started = Date.now();
      let wasSlow = false;
      const slow = setTimeout(() => {
        // A hung sink (a frozen database) fails nothing: without this line an outage left no trace
        // in the log, only spill_pending growing.
        wasSlow = true;
        const seconds = spillAfterFailingMs / 1000;
        console.warn(
          `receiver ${label}: a batch has been going out for ${seconds} s (its sink is slow, failing or not ` +
            "answering); what comes next goes to disk until it is out",
        );
        movingTail = spillQueueTail(keep).finally(() => movingTail = null);
      }, spillAfterFailingMs);
      let delivered = false;
      try {
        delivered = await op;
        return delivered;
      } finally {
        clearTimeout(slow);
        if (movingTail) await movingTail;
        if (wasSlow) {
          // False: given up (the service stopping: it is saved with the queue).
          const seconds = ((Date.now() - started) / 1000).toFixed(1);
          console.warn(
            delivered
              ? `receiver ${label}: that batch went out after ${seconds} s`
              : `receiver ${label}: that batch was not delivered (given up after ${seconds} s as the service ` +
                "stops: it is saved with the queue and delivered after the next start)",
          );
        }
      }
    },
    closedOut: () => closedOut,
    flushSoon: () => buffer.schedule(),
    async saveAll(force) {
      if (force || unsaved() > 0) {
        // Accepted reports are not dropped because the disk is full: the write is tried again
        // every second until it works, or a second signal ends the process (exit code 130).
        for (let attempt = 0;; attempt++) {
          try {
            await spillRemainder();
            break;
          } catch (err) {
            if (attempt % 10 === 0) {
              console.error(
                `receiver ${label}: ${unsaved()} accepted item(s) could not be written to disk ` +
                  `(${(err as Error).message}); trying again every second: free space, or send the ` +
                  "signal again to exit without them",
              );
            }
            await new Promise((resolve) => setTimeout(resolve, 1000));
          }
        }
      }
      buffer.cancel();
    },
    stats: () => ({
      spill_buffer_bytes: buffer.bytes(),
      spill_buffered: buffer.items(),
      spill_pending: spill?.pendingItems ?? 0,
      spill_bytes: spill?.pendingBytes ?? 0,
      spilled_total: spilled + buffer.written(),
      replayed_total: replayed,
      spill_corrupt_segments: spill?.corruptSegments ?? 0,
      spill_corrupt_items: spill?.corruptItems ?? 0,
    }),
  };
}
