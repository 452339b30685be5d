/**
 * An error as one log line: its message with its causes ("fetch failed: error sending request …:
 * Connection refused"), which is what an operator can act on. A programming error (a TypeError and
 * kin: a bug, not a sink's answer) keeps its stack, the one place it is worth reading.
 */
const BUGS = new Set(["TypeError", "ReferenceError", "RangeError", "SyntaxError", "EvalError"]);

export function errorText(err: unknown): string {
  if (err instanceof Error && BUGS.has(err.name) && err.stack) return err.stack;
  const parts: string[] = [];
  for (let e = err, depth = 0; e !== undefined && depth < 4; depth++) {
    const text = e instanceof Error ? `${e.name === "Error" ? "" : `${e.name}: `}${e.message}` : String(e);
    if (parts.at(-1) !== text) parts.push(text);
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}
