/**
 * How a runner retries a receiver's calls, and when it holds delivery back.
 *
 * Retry: capped exponential backoff with jitter, forever for a durable receiver (its messages
 * are never dropped), `attempts` times for a live one; a shutdown (the signal) ends the wait
 * and the retries. The first failure and every tenth are logged.
 *
 * Hold: while a burst of frames comes in, delivery waits (see `shouldHold`).
 */
import { errorText } from "./error_text.ts";
import { setImmediate } from "node:timers";
import type { QueueItem } from "./queue_item.ts";

/**
 * Resolves after the current turn of the event loop, its I/O callbacks included (`setImmediate`:
 * not a timer, whose idle-loop wake-up costs tens of µs).
 */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Sleeps `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
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

export interface RetryOptions {
  /** First delay and cap, in ms. */
  baseMs: number;
  capMs: number;
  /** Attempts before giving up (Infinity: until it works or the signal aborts). */
  attempts: number;
  signal: AbortSignal;
  /** Name in the log lines. */
  label: string;
}

export interface Retry {
  /**
   * Runs `op` until it succeeds, the attempts are used up or the signal aborts. False = gave up.
   * An `op` that succeeds synchronously at once is answered with `true` itself, not a promise:
   * a live receiver's batch of one report then costs no promise and no microtask here.
   */
  run(what: string, op: () => Promise<void> | void): boolean | Promise<boolean>;
  /** Failed attempts, and the waits after them. */
  errors(): number;
  retries(): number;
}

/** Settles with `op`'s result, or "timeout" after `ms` if it has not settled by then (it runs on). */
export async function within<T>(op: Promise<T>, ms: number): Promise<T | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  try {
    return await Promise.race([op, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `result`, failing once `ms` passed without it settling (it runs on, and `onTimeout` is told);
 * as it is when `ms` is undefined or `result` is no promise (core/receiver.ts, `callTimeoutMs`).
 */
export function failAfter(
  result: Promise<void> | void,
  ms: number | undefined,
  onTimeout?: () => void,
): Promise<void> | void {
  if (ms === undefined || !(result instanceof Promise)) return result;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms} ms (callTimeoutMs)`));
      onTimeout?.();
    }, ms);
    result.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

/** Delay before attempt `attempt + 1`: between half and all of min(cap, base × 2^attempt). */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20));
  return exp / 2 + Math.random() * exp / 2;
}

export function createRetry(options: RetryOptions): Retry {
  let errors = 0;
  let retries = 0;
  /** After attempt `attempt` failed with `err`: waits, tries again, until done or given up. */
  async function retryAfter(
    what: string,
    op: () => Promise<void> | void,
    attempt: number,
    err: unknown,
  ): Promise<boolean> {
    for (;; attempt++) {
      errors++;
      if (attempt === 0 || attempt % 10 === 0) {
        console.error(
          `receiver ${options.label}: ${what} failed (attempt ${attempt + 1}): ${errorText(err)}`,
        );
      }
      if (options.signal.aborted || attempt + 1 >= options.attempts) return false;
      retries++;
      await sleep(backoffMs(attempt, options.baseMs, options.capMs), options.signal);
      if (options.signal.aborted) return false;
      try {
        await op();
        return true;
      } catch (e) {
        err = e;
      }
    }
  }

  return {
    run(what, op) {
      let first: Promise<void> | void;
      try {
        first = op();
      } catch (err) {
        return retryAfter(what, op, 0, err);
      }
      if (first === undefined) return true;
      return Promise.resolve(first).then(() => true, (err) => retryAfter(what, op, 0, err));
    },
    errors: () => errors,
    retries: () => retries,
  };
}

/** What `shouldHold` looks at. */
export interface HoldState {
  holdWhile?: { busy(): boolean };
  maxHoldMs: number;
  maxQueue: number;
  /** Stopping, or replaying the spill: never held. */
  urgent: boolean;
  depth: number;
  /** The oldest queued item. */
  first: QueueItem;
}

/**
 * Whether delivery should wait for the burst to pass: only messages are held (an inactive
 * event goes at once), for at most `maxHoldMs` after the oldest arrived, and only while the
 * queue is below half its bound and nothing waits in the spill.
 */
export function shouldHold(s: HoldState, now = Date.now()): boolean {
  if (!s.holdWhile || s.urgent || s.depth * 2 >= s.maxQueue) return false;
  if (s.first.kind !== "message" || now - s.first.message.receivedAt >= s.maxHoldMs) return false;
  return s.holdWhile.busy();
}
