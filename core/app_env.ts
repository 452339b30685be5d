/** Types shared by the Hono app and its sub-apps. */
import type { Context } from "hono";

/** Hono environment: bindings are Deno's per-connection info; variables are request-scoped. */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>>;
  Variables: {
    /** The authenticated agent user (protocol routes). */
    user: string;
  };
}

/** The client's address as the listener saw it ("unknown" in in-process requests). */
export function clientAddress(c: Context<AppEnv>): string {
  return c.env?.remoteAddr?.hostname ?? "unknown";
}
