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

/** One group of an IPv6 address: 1-4 hex digits. */
const HEX_GROUP = /^[0-9a-f]{1,4}$/;
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** The eight 16-bit groups of an IPv6 address (a zone, `::` and a dotted tail allowed), else undefined. */
function ipv6Groups(address: string): number[] | undefined {
  const zone = address.indexOf("%");
  const bare = (zone === -1 ? address : address.slice(0, zone)).toLowerCase();
  const halves = bare.split("::");
  if (halves.length > 2) return undefined;
  const parts = (half: string) => (half === "" ? [] : half.split(":"));
  const head = parts(halves[0]!);
  const tail = halves.length === 2 ? parts(halves[1]!) : [];
  const last = halves.length === 2 ? tail : head;
  const dotted = last.length > 0 ? DOTTED.exec(last[last.length - 1]!) : null;
  if (dotted !== null) {
    const bytes = dotted.slice(1).map(Number);
    if (bytes.some((b) => b > 255)) return undefined;
    last.splice(
      last.length - 1,
      1,
      ((bytes[0]! << 8) | bytes[1]!).toString(16),
      ((bytes[2]! << 8) | bytes[3]!).toString(16),
    );
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<string>(missing).fill("0"), ...tail];
  if (!groups.every((g) => HEX_GROUP.test(g))) return undefined;
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key per-address limits count a client under: an IPv4 address as it is (an IPv4-mapped IPv6
 * one as its IPv4), an IPv6 address as its /64 network (`2001:db8:1:2::/64`): one subscriber gets a
 * whole /64, so counting each address apart gave it 2^64 allowances of every per-address limit.
 * Anything else ("unknown", a name) as it is.
 */
export function addressKey(address: string): string {
  if (!address.includes(":")) return address;
  const groups = ipv6Groups(address);
  if (groups === undefined) return address;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 255}.${groups[7]! >> 8}.${groups[7]! & 255}`;
  }
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The client's key for per-address limits (`addressKey` of `clientAddress`). */
export function clientKey(c: Context<AppEnv>): string {
  return addressKey(clientAddress(c));
}
