/**
 * The ingress meter: counts the frames nodes send and says when they come in a burst. On a real
 * network every node reports each new block within a second of the others, so the service reads
 * tens of thousands of frames in one second and then little for ten. While the meter says busy,
 * the receivers' delivery loops (core/runner.ts) hold their work back (boundedly) and leave the
 * CPU to reading sockets and answering pings; they catch up once the burst is over.
 */

/** Counts incoming frames; `busy` while they arrive at or above the configured rate. */
export interface IngressMeter {
  /** Counts one incoming frame. */
  note(): void;
  /** True while the last window's rate (or the current one's so far) is at or above the threshold, and `holdMs` after. */
  busy(): boolean;
}

export interface IngressOptions {
  /** Frames per second from which the meter says busy. */
  busyAtPerSecond: number;
  /** Length of a counting window (default 100 ms). */
  windowMs?: number;
  /** How long busy lasts after the rate was last seen at the threshold (default 150 ms). */
  holdMs?: number;
  now?: () => number;
}

/**
 * Creates a meter. The rate is counted in fixed windows: the current one and the one before it,
 * so a burst is seen within a fraction of a window and a stall of the event loop in the middle
 * of one (few frames counted because none were read) is bridged by `holdMs`.
 */
export function createIngressMeter(options: IngressOptions): IngressMeter {
  const windowMs = options.windowMs ?? 100;
  const holdMs = options.holdMs ?? 150;
  const now = options.now ?? Date.now;
  const threshold = options.busyAtPerSecond * windowMs / 1000;
  let window = Math.floor(now() / windowMs);
  let current = 0;
  let previous = 0;
  let busyUntil = -Infinity;

  /** Moves the windows up to `t`; a window with no frames in between leaves nothing behind. */
  function advance(t: number): void {
    const w = Math.floor(t / windowMs);
    if (w === window) return;
    previous = w === window + 1 ? current : 0;
    current = 0;
    window = w;
  }

  return {
    note() {
      advance(now());
      current++;
    },
    busy() {
      const t = now();
      advance(t);
      if (current >= threshold || previous >= threshold) busyUntil = t + holdMs;
      return t < busyUntil;
    },
  };
}
