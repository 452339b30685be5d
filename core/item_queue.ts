/**
 * A receiver's memory queue (core/runner.ts): items in order, each remembered with the spill
 * segment it was loaded from (or none), its size counted against the byte bound. O(1) at both
 * ends: an array with a moving head, compacted now and then; delivered items are released at once.
 */
import type { Message } from "./message.ts";
import type { QueueItem } from "./queue_item.ts";

/** The size an item counts with against the byte bounds (`Message.bytes`; 0 for others). */
export function sizeOf(item: QueueItem): number {
  return item.kind === "message" ? item.message.bytes ?? 0 : 0;
}

export function sumOf(items: readonly QueueItem[]): number {
  let n = 0;
  for (const item of items) n += sizeOf(item);
  return n;
}

/** Consecutive items that came from one spill segment (`segment`), or only live in memory (null). */
interface Run {
  segment: string | null;
  count: number;
}

export interface ItemQueue {
  /** Items queued. */
  readonly depth: number;
  /** Their bytes (`sizeOf`). */
  readonly bytes: number;
  /** The oldest item, if any. */
  first(): QueueItem | undefined;
  /** Up to `max` messages from the front, stopping at the first item that is not a message. */
  messages(max: number): Message[];
  /** Appends one item that lives only in memory (the push path: no array per item). */
  push(item: QueueItem): void;
  /** Appends items as one run (`segment`: the spill file they were loaded from, or null). */
  pushRun(items: readonly QueueItem[], segment: string | null): void;
  /** Takes `n` items off the front; returns the segments whose items have all been taken. */
  take(n: number): string[];
  /** Empties the queue: its items in order, and the segments they were loaded from. */
  takeAll(): { items: QueueItem[]; segments: string[] };
  /** The items after the first `keep`, in order, when none of them came from a segment; else null. */
  memoryOnlyAfter(keep: number): QueueItem[] | null;
  /** Removes every item after the first `keep`. */
  truncate(keep: number): void;
}

export function createItemQueue(): ItemQueue {
  let items: Array<QueueItem | undefined> = [];
  let head = 0;
  let bytes = 0;
  /** The queue from `head`, as runs; a segment's file is removed once its run is taken. */
  let runs: Run[] = [];

  function compact(): void {
    if (head > 1024 && head * 2 > items.length) {
      items = items.slice(head);
      head = 0;
    }
  }

  return {
    get depth() {
      return items.length - head;
    },
    get bytes() {
      return bytes;
    },
    first: () => items[head],
    messages(max) {
      const out: Message[] = [];
      for (let i = head; i < items.length && out.length < max; i++) {
        const item = items[i]!;
        if (item.kind !== "message") break;
        out.push(item.message);
      }
      return out;
    },
    push(item) {
      items.push(item);
      bytes += sizeOf(item);
      const last = runs[runs.length - 1];
      if (last && last.segment === null) last.count++;
      else runs.push({ segment: null, count: 1 });
    },
    pushRun(run, segment) {
      if (run.length === 0) return;
      for (const item of run) {
        items.push(item);
        bytes += sizeOf(item);
      }
      const last = runs[runs.length - 1];
      if (segment === null && last && last.segment === null) last.count += run.length;
      else runs.push({ segment, count: run.length });
    },
    take(n) {
      // Delivered items must not stay reachable until the next compaction: a thousand 1 MB
      // reports would otherwise stay in memory per receiver after they were delivered.
      for (let i = head; i < head + n && i < items.length; i++) {
        bytes -= sizeOf(items[i]!);
        items[i] = undefined;
      }
      head += n;
      if (head >= items.length) {
        items = [];
        head = 0;
      }
      compact();
      const done: string[] = [];
      while (n > 0) {
        const run = runs[0];
        if (!run) break;
        const k = Math.min(n, run.count);
        run.count -= k;
        n -= k;
        if (run.count === 0) {
          runs.shift();
          if (run.segment !== null) done.push(run.segment);
        }
      }
      return done;
    },
    memoryOnlyAfter(keep) {
      let before = 0;
      for (const run of runs) {
        if (run.segment !== null && before + run.count > keep) return null;
        before += run.count;
      }
      return items.slice(head + keep) as QueueItem[];
    },
    truncate(keep) {
      const end = head + keep;
      if (end >= items.length) return;
      for (let i = end; i < items.length; i++) bytes -= sizeOf(items[i]!);
      items.length = end;
      let left = keep;
      runs = runs.filter((run) => {
        if (left <= 0) return false;
        run.count = Math.min(run.count, left);
        left -= run.count;
        return true;
      });
    },
    takeAll() {
      const out = {
        items: items.slice(head) as QueueItem[],
        segments: runs.flatMap((r) => r.segment === null ? [] : [r.segment]),
      };
      items = [];
      head = 0;
      bytes = 0;
      runs = [];
      return out;
    },
  };
}
