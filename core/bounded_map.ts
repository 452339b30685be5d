/**
 * A map of at most `max` entries that forgets the least recently used ones first, with every
 * operation O(1) at any size: the bounded caches and per-address tables on request paths.
 *
 * Kept as two generations: entries are set (and moved on use) into the newer; once it holds
 * `max / 2` it becomes the older and the previous older is dropped whole. So the map holds the
 * `max / 2` most recently used entries at least, and `max` at most. The usual alternative,
 * deleting `map.keys().next().value` past the bound, is not O(1) in V8: deleted entries stay as
 * holes at the front of the table until it is rehashed, and each such lookup scans them: 31 µs per
 * request for `http/rate_limit.ts` at 100,000 addresses once an address spray fills it (1.5 µs
 * before), on this box.
 */
export class BoundedMap<K, V> {
  readonly #half: number;
  #newer = new Map<K, V>();
  #older = new Map<K, V>();

  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  /** The value of `key`, which counts as a use (it is kept longest). */
  get(key: K): V | undefined {
    const value = this.#newer.get(key);
    if (value !== undefined || this.#newer.has(key)) return value;
    if (!this.#older.has(key)) return undefined;
    const moved = this.#older.get(key) as V;
    this.#older.delete(key);
    this.#add(key, moved);
    return moved;
  }

  /** Whether `key` is there (not a use). */
  has(key: K): boolean {
    return this.#newer.has(key) || this.#older.has(key);
  }

  /** Sets `key`, which counts as a use. */
  set(key: K, value: V): this {
    if (this.#newer.has(key)) {
      this.#newer.set(key, value);
      return this;
    }
    this.#older.delete(key);
    this.#add(key, value);
    return this;
  }

  delete(key: K): boolean {
    return this.#newer.delete(key) || this.#older.delete(key);
  }

  get size(): number {
    return this.#newer.size + this.#older.size;
  }

  /** Every entry, the older generation first. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    yield* this.#older;
    yield* this.#newer;
  }

  #add(key: K, value: V): void {
    this.#newer.set(key, value);
    if (this.#newer.size >= this.#half) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
  }
}
