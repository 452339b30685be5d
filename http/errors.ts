/** One error vocabulary for the whole service, mapped to HTTP in one place. */
import { StoreUnavailableError } from "../auth/store.ts";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** An expected failure with a stable `code`; `onError` turns it into `{"error", "message"}`. */
export class AppError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "AppError";
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

/** The single error body shape of the service. */
export function errorBody(code: string, message: string): { error: string; message: string } {
  return { error: code, message };
}

/** Builds a JSON error response outside of a Hono context (e.g. before a websocket upgrade). */
export function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(errorBody(code, message)), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Hono `onError` handler: AppErrors keep their status, an auth store past its deadline is a 503
 * with Retry-After, anything else is a logged 500.
 */
export function handleError(err: Error, c: Context): Response {
  if (err instanceof StoreUnavailableError) {
    c.header("retry-after", "5");
    return c.json(errorBody("auth_store_unavailable", `${err.message}; retry shortly`), 503);
  }
  if (err instanceof AppError) {
    for (const [k, v] of Object.entries(err.headers)) c.header(k, v);
    return c.json(errorBody(err.code, err.message), err.status);
  }
  console.error(`unhandled error on ${c.req.method} ${c.req.path}:`, err);
  return c.json(errorBody("internal_error", "internal server error"), 500);
}
