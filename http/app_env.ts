/** Types shared by the Hono app and its sub-apps. */
import type { Context } from "hono";

/** Hono environment: bindings are Deno's per-connection info. */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>>;
}

/** The client's address as the listener saw it ("unknown" in in-process requests). */
export function clientAddress(c: Context<AppEnv>): string {
  return c.env?.remoteAddr?.hostname ?? "unknown";
}
