/**
 * `new Date(ms).toISOString()` for many times close together, without a Date per call: the
 * text up to the seconds is made once per second (a batch's reports mostly share theirs), the
 * milliseconds are appended. 0.8 µs a row with a Date each, on this box.
 */

/**
 * Returns a function giving the ISO text of a time (ms since the epoch), exactly as
 * `new Date(ms).toISOString()`, or null where that has no year 1–9999 (or is not a time).
 */
export function createIsoClock(): (ms: number) => string | null {
  let second = NaN;
  let prefix: string | null = null;
  return (ms) => {
    const t = Math.trunc(ms); // as Date's TimeClip
    const s = Math.floor(t / 1000);
    if (s !== second) {
      second = s;
      const date = new Date(s * 1000);
      const year = date.getUTCFullYear();
      prefix = Number.isNaN(year) || year < 1 || year > 9999 ? null : date.toISOString().slice(0, 20);
    }
    if (prefix === null || !Number.isFinite(t)) return null;
    const milli = t - s * 1000;
    return prefix + (milli < 10 ? "00" : milli < 100 ? "0" : "") + milli + "Z";
  };
}
