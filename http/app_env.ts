/** Types shared by the Hono app and its sub-apps. */
import type { Context } from "hono";

/**
 * Hono environment: bindings are Deno's per-connection info, and the addresses of the proxies
 * in front (config `trustedProxies`) whose `X-Forwarded-For` is believed.
 */
export interface AppEnv {
  Bindings: Partial<Deno.ServeHandlerInfo<Deno.NetAddr>> & { trustedProxies?: ReadonlySet<string> };
}

/**
 * The client's address: the peer's, or, when the peer is a trusted proxy (a balancer in front),
 * the rightmost `X-Forwarded-For` entry that is not one of the trusted proxies (each proxy
 * appends the address it saw; what a client writes there itself is further left and ignored).
 * "unknown" in in-process requests.
 */
export function clientAddress(c: Context<AppEnv>): string {
  const peer = c.env?.remoteAddr?.hostname ?? "unknown";
  const proxies = c.env?.trustedProxies;
  if (proxies === undefined || !proxies.has(peer)) return peer;
  const forwarded = c.req.header("x-forwarded-for");
  if (!forwarded) return peer;
  const hops = forwarded.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (hop && !proxies.has(hop)) return hop;
  }
  return peer;
}
