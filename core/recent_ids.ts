/**
 * A bounded memory of recently seen ids, for "did I see this one lately?" checks on hot paths.
 *
 * Kept as two generations of `capacity / 2` ids: once the newer is full it becomes the older
 * and the previous older is dropped whole. Evicting one id at a time from a `Set` (deleting
 * `set.values().next().value`) is not O(1) in V8: the deleted entries stay as holes at the front
 * of the table until it is rehashed, and every lookup of the oldest scans them: 30 µs per add at
 * 100,000 ids on this box. Here an add and a lookup cost the same at any size.
 */
export interface RecentIds {
  /** Whether `id` was added among the last `capacity / 2` ids at least (at most `capacity`). */
  has(id: string): boolean;
  add(id: string): void;
  /** Ids remembered now. */
  readonly size: number;
}

export function recentIds(capacity: number): RecentIds {
  const half = Math.max(1, Math.floor(capacity / 2));
  let newer = new Set<string>();
  let older = new Set<string>();
  return {
    has: (id) => newer.has(id) || older.has(id),
    add(id) {
      if (newer.has(id)) return;
      newer.add(id);
      if (newer.size >= half) {
        older = newer;
        newer = new Set();
      }
    },
    get size() {
      return newer.size + older.size;
    },
  };
}
