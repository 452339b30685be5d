/**
 * A Map that keeps its keys in order of last use, oldest first, for the per-node state that
 * evicts the node heard from least recently. Moving a key to the newest end relinks it in a list
 * instead of deleting and setting it again: V8's Map leaves a deleted entry in its table until
 * the table is rebuilt, so a delete + set per report rebuilt a 10,000-entry table every few
 * thousand reports (0.35 µs per refresh against 0.04 µs for a lookup, and tables for the
 * garbage collector). Here a refresh is a lookup and a few pointer writes.
 */
interface Entry<K, V> {
  key: K;
  value: V;
  older: Entry<K, V> | null;
  newer: Entry<K, V> | null;
  /** Deleted while an iteration may still hold it (iterations skip it). */
  removed: boolean;
}

export class RecencyMap<K, V> {
  #entries = new Map<K, Entry<K, V>>();
  #oldest: Entry<K, V> | null = null;
  #newest: Entry<K, V> | null = null;

  get size(): number {
    return this.#entries.size;
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** The value, without changing the order. */
  get(key: K): V | undefined {
    return this.#entries.get(key)?.value;
  }

  /** Sets the value and makes the key the newest. */
  set(key: K, value: V): this {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      const added: Entry<K, V> = { key, value, older: this.#newest, newer: null, removed: false };
      if (this.#newest === null) this.#oldest = added;
      else this.#newest.newer = added;
      this.#newest = added;
      this.#entries.set(key, added);
    } else {
      entry.value = value;
      this.#makeNewest(entry);
    }
    return this;
  }

  /** Makes the key the newest and returns its value; undefined (nothing changes) when absent. */
  touch(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#makeNewest(entry);
    return entry.value;
  }

  delete(key: K): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#unlink(entry);
    entry.removed = true;
    return true;
  }

  /** The key used least recently. */
  oldestKey(): K | undefined {
    return this.#oldest?.key;
  }

  /**
   * Keys and values, oldest first, as they were when the iteration began: a key deleted during
   * it is skipped once reached, one added or refreshed during it is not visited (again).
   */
  *entries(): IterableIterator<[K, V]> {
    for (const entry of this.#snapshot()) if (!entry.removed) yield [entry.key, entry.value];
  }

  *keys(): IterableIterator<K> {
    for (const entry of this.#snapshot()) if (!entry.removed) yield entry.key;
  }

  *values(): IterableIterator<V> {
    for (const entry of this.#snapshot()) if (!entry.removed) yield entry.value;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  #snapshot(): Entry<K, V>[] {
    const out: Entry<K, V>[] = [];
    for (let e = this.#oldest; e !== null; e = e.newer) out.push(e);
    return out;
  }

  #unlink(entry: Entry<K, V>): void {
    if (entry.older === null) this.#oldest = entry.newer;
    else entry.older.newer = entry.newer;
    if (entry.newer === null) this.#newest = entry.older;
    else entry.newer.older = entry.older;
    entry.older = entry.newer = null;
  }

  #makeNewest(entry: Entry<K, V>): void {
    if (entry === this.#newest) return;
    this.#unlink(entry);
    entry.older = this.#newest;
    this.#newest!.newer = entry;
    this.#newest = entry;
  }
}
