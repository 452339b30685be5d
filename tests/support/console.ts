/** Runs `fn` with what `console[method]` prints collected (one line per call), and puts it back after. */
export async function capturing<T>(
  method: "error" | "warn",
  fn: (lines: string[]) => Promise<T>,
): Promise<T> {
  const lines: string[] = [];
  const original = console[method];
  console[method] = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    return await fn(lines);
  } finally {
    console[method] = original;
  }
}
