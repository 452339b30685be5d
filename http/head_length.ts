/**
 * HEAD answers with the length their GET would have. Hono answers a HEAD with the GET route's
 * response less its body, and Deno then counts the empty body: `content-length: 0`, where RFC 9110
 * allows only the GET's length or none. Event streams are left alone (no GET length to give).
 */
import type { MiddlewareHandler } from "hono";

export const headLength: MiddlewareHandler = (c, next) =>
  c.req.method === "HEAD" ? withLength(c, next) : next();

const withLength: MiddlewareHandler = async (c, next) => {
  await next();
  if (c.res.body === null || c.res.headers.has("content-length")) return;
  if (c.res.headers.get("content-type")?.startsWith("text/event-stream")) return;
  const bytes = await c.res.clone().arrayBuffer();
  const res = new Response(bytes, c.res);
  res.headers.set("content-length", String(bytes.byteLength));
  c.res = res;
};
