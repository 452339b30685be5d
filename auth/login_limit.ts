/** Brute-force protection: failed Basic-auth attempts per client address and per user name. */

export interface LoginLimitOptions {
  /** Failures within the window that lock a key; 0 turns the limit off. */
  maxFailures: number;
  windowSeconds: number;
  /** Clock in epoch ms (tests inject one). */
  now?: () => number;
  /** Most keys tracked at once; the oldest are forgotten beyond it. */
  maxKeys?: number;
}

export type LimitState = { limited: false } | { limited: true; retryAfterSeconds: number };

/** A sliding-window failure counter. */
export interface LoginLimiter {
  /** Whether any of the keys is locked now. Does not count as a failure. */
  check(keys: string[]): LimitState;
  /** Records one failed attempt against every key. */
  fail(keys: string[]): void;
  /** Failures recorded since start (for /metrics). */
  readonly failures: number;
}

/** Creates a limiter; keys look like `addr:1.2.3.4` or `user:alice`. */
export function createLoginLimiter(options: LoginLimitOptions): LoginLimiter {
  const now = options.now ?? Date.now;
  const windowMs = options.windowSeconds * 1000;
  const maxKeys = options.maxKeys ?? 100_000;
  const attempts = new Map<string, number[]>();
  let failures = 0;

  function recent(key: string, t: number): number[] {
    const list = attempts.get(key);
    if (!list) return [];
    while (list.length > 0 && list[0]! <= t - windowMs) list.shift();
    if (list.length === 0) attempts.delete(key);
    return list;
  }

  return {
    get failures() {
      return failures;
    },
    check(keys) {
      if (options.maxFailures <= 0) return { limited: false };
      const t = now();
      let retryAt = 0;
      for (const key of keys) {
        const list = recent(key, t);
        if (list.length >= options.maxFailures) {
          // Locked until the oldest failure that keeps the count at the limit leaves the window.
          const unlock = list[list.length - options.maxFailures]! + windowMs;
          retryAt = Math.max(retryAt, unlock);
        }
      }
      if (retryAt === 0) return { limited: false };
      return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((retryAt - t) / 1000)) };
    },
    fail(keys) {
      failures++;
      if (options.maxFailures <= 0) return;
      const t = now();
      for (const key of keys) {
        const list = recent(key, t);
        list.push(t);
        if (list.length > options.maxFailures) list.shift();
        attempts.delete(key);
        attempts.set(key, list);
      }
      while (attempts.size > maxKeys) {
        const oldest = attempts.keys().next().value;
        if (oldest === undefined) break;
        attempts.delete(oldest);
      }
    },
  };
}
