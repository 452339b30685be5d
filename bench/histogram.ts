/**
 * A latency histogram with log-spaced buckets (about 2 % wide, 1 µs to ~17 min): O(1) record,
 * quantiles good to the bucket width, mergeable, fixed memory. For load generators that record
 * tens of thousands of samples per second.
 */

const SUB = 50; // buckets per power of 2 (≈ 1.4 % each)
const MIN_MS = 0.001;
const OCTAVES = 30;
const SIZE = SUB * OCTAVES + 1;

/** A mergeable latency histogram in milliseconds. */
export class Histogram {
  readonly counts = new Float64Array(SIZE);
  count = 0;
  sum = 0;
  max = 0;

  /** Records one sample (ms). */
  record(ms: number): void {
    const v = ms > MIN_MS ? ms : MIN_MS;
    const i = Math.min(SIZE - 1, Math.floor(Math.log2(v / MIN_MS) * SUB));
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** The q-quantile (0..1) in ms: the upper edge of the bucket that holds it; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, MIN_MS * 2 ** ((i + 1) / SUB));
    }
    return this.max;
  }

  mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /** Adds another histogram's samples to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < SIZE; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** A compact JSON form (non-empty buckets only), for passing between processes. */
  toJSON(): { b: Array<[number, number]>; count: number; sum: number; max: number } {
    const b: Array<[number, number]> = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]! > 0) b.push([i, this.counts[i]!]);
    return { b, count: this.count, sum: this.sum, max: this.max };
  }

  static fromJSON(json: { b: Array<[number, number]>; count: number; sum: number; max: number }): Histogram {
    const h = new Histogram();
    for (const [i, n] of json.b) h.counts[i] = n;
    h.count = json.count;
    h.sum = json.sum;
    h.max = json.max;
    return h;
  }
}

/** Formats milliseconds for a progress line or a table: "0.42 ms", "12.3 ms", "1.20 s". */
export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/** The median of the finite values (the mean of the middle two for an even count); NaN when none. */
export function median(values: number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
