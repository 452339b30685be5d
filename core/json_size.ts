/**
 * About how many bytes a decoded JSON value takes as text (strings by their length, numbers as
 * 8), to weigh what per-agent state keeps against a byte budget without serializing it. The walk
 * stops as soon as the total passes `limit` (then `limit + 1` is returned), so a huge value costs
 * no more than a small one to be found too big.
 */
export function approxJsonBytes(value: unknown, limit = Number.MAX_SAFE_INTEGER): number {
  let total = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") total += v.length + 2;
    else if (v === null || typeof v !== "object") total += 8;
    else if (Array.isArray(v)) {
      total += 2 + v.length;
      // Each element takes 2 bytes at least (""): too big already, nothing is pushed (8 million
      // elements were, before the check: 150 ms for a block found too big).
      if (total + 2 * v.length > limit) return limit + 1;
      for (let i = 0; i < v.length; i++) stack.push(v[i]);
    } else {
      total += 2;
      for (const key in v as Record<string, unknown>) {
        total += key.length + 4;
        if (total > limit) return limit + 1;
        stack.push((v as Record<string, unknown>)[key]);
      }
    }
    if (total > limit) return limit + 1;
  }
  return total;
}
