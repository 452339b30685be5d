/**
 * How a delivery loop (core/runner.ts) sleeps and is woken: it waits until `notify()`, or for at
 * most `ms`; `notifySoon()` wakes it once the current turn of the event loop is over, so that
 * what every request or frame of the turn pushed goes out as one batch, not one call each.
 */
import { setImmediate } from "node:timers";

export interface WakeSignal {
  /** Wakes the waiting loop now (nothing when it is not waiting). */
  notify(): void;
  /**
   * Wakes the waiting loop once this turn is over (`setImmediate`: after its I/O callbacks), one
   * wake-up for any number of calls. Not `setTimeout(0)`: a timer costs an idle-loop wake-up
   * (tens of µs of CPU here) and at least a millisecond. While the loop lingers, only a full
   * batch wakes it early.
   */
  notifySoon(): void;
  /** Resolves on the next wake-up, or after `ms` when given. */
  wait(ms?: number): Promise<void>;
  /** Waits `ms` for a batch to fill: `notifySoon` ends it early only once `batchFull()`. */
  linger(ms: number): Promise<void>;
}

/**
 * Wake-ups due at the end of this turn, all runners' together: one `setImmediate` per turn
 * for every loop to wake, not one each (Deno's node:timers gives each an async id and hooks).
 */
let dueAtTurnEnd: Array<() => void> = [];

function wakeDue(): void {
  const due = dueAtTurnEnd;
  dueAtTurnEnd = [];
  for (const wake of due) wake();
}

function atTurnEnd(wake: () => void): void {
  if (dueAtTurnEnd.push(wake) === 1) setImmediate(wakeDue);
}

export function createWakeSignal(batchFull: () => boolean): WakeSignal {
  let wake: (() => void) | null = null;
  let scheduled = false;
  let lingering = false;

  function notify(): void {
    const w = wake;
    wake = null;
    w?.();
  }

  function wait(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(notify, ms);
    });
  }

  function wakeAtTurnEnd(): void {
    scheduled = false;
    notify();
  }

  return {
    notify,
    notifySoon() {
      if (wake === null || scheduled || (lingering && !batchFull())) return;
      scheduled = true;
      atTurnEnd(wakeAtTurnEnd);
    },
    wait,
    async linger(ms) {
      lingering = true;
      try {
        await wait(ms);
      } finally {
        lingering = false;
      }
    },
  };
}
