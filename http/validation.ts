/**
 * The one way a zod failure is said: `path: message`, unknown keys named. Used for request
 * bodies and query parameters (422 with the error shape), the config file and receiver options
 * (one start-up line), and skipped reports.
 */
import type { z } from "zod";
import { AppError } from "./errors.ts";

/** Every issue of `error`, `; `-separated; `prefix` is put before each path, `root` names an empty one. */
export function describeZodError(error: z.ZodError, prefix = "", root = "(root)"): string {
  return error.issues.map((issue) => {
    const path = issue.path.length > 0 ? prefix + issue.path.join(".") : prefix.slice(0, -1) || root;
    if (issue.code === "unrecognized_keys") {
      return `${path}: unknown key(s) ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
    }
    return `${path}: ${issue.message}`;
  }).join("; ");
}

/** Parses `value` with `schema`; a failure is a 422 `code` naming the first offending field. */
export function parseOr422<S extends z.ZodType>(
  schema: S,
  value: unknown,
  code: "invalid_body" | "invalid_query",
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const first = { ...result.error, issues: result.error.issues.slice(0, 1) } as z.ZodError;
  throw new AppError(422, code, describeZodError(first, "", code === "invalid_body" ? "body" : "query"));
}
