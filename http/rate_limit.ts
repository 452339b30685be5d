/**
 * Requests per client address: a token bucket each (`perSecond` refill, `burst` deep), for the
 * public surfaces (the web dashboard's page, assets and read API) so one address flooding them
 * cannot take the CPU from the agents. At most `maxAddresses` buckets are kept (a full bucket is
 * the same as none, so the least recently used are dropped, core/bounded_map.ts): ~100 B each,
 * 10 MB at the default. An address spray costs each request the same as one address does.
 */
import type { MiddlewareHandler } from "hono";
import { type AppEnv, clientKey } from "./app_env.ts";
import { AppError } from "./errors.ts";
import { BoundedMap } from "../core/bounded_map.ts";

export interface RateLimitOptions {
  /** Requests per second per address in the long run; 0 turns the limit off. */
  perSecond: number;
  /** Requests an address may send at once. */
  burst: number;
  maxAddresses?: number;
  now?: () => number;
}

export interface RateLimiter {
  /** Takes one request's token: 0 when allowed, else the seconds until one is available. */
  take(address: string): number;
  /**
   * Takes `tokens` more from an address whose request costs more than one (a large answer made),
   * down to a whole burst owed at most: its next requests wait for them.
   */
  charge(address: string, tokens: number): void;
  readonly refused: number;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const now = options.now ?? Date.now;
  const maxAddresses = options.maxAddresses ?? 100_000;
  /** address → tokens and when they were counted. */
  const buckets = new BoundedMap<string, { tokens: number; at: number }>(maxAddresses);
  let refused = 0;
  return {
    get refused() {
      return refused;
    },
    take(address) {
      if (options.perSecond <= 0) return 0;
      const bucket = refilled(address);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      refused++;
      return Math.max(1, Math.ceil((1 - bucket.tokens) * 1000 / options.perSecond / 1000));
    },
    charge(address, tokens) {
      if (options.perSecond <= 0 || tokens <= 0) return;
      const bucket = refilled(address);
      bucket.tokens = Math.max(-options.burst, bucket.tokens - tokens);
    },
  };

  /** The address's bucket with what refilled since it was last counted. */
  function refilled(address: string): { tokens: number; at: number } {
    const t = now();
    let bucket = buckets.get(address);
    if (bucket === undefined) {
      bucket = { tokens: options.burst, at: t };
      buckets.set(address, bucket);
    }
    bucket.tokens = Math.min(options.burst, bucket.tokens + (t - bucket.at) * options.perSecond / 1000);
    bucket.at = t;
    return bucket;
  }
}

/**
 * Bytes of an answer that cost one request's token beyond its first (`RateLimiter.charge`): a
 * page of 1,000 nodes with 256-character strings is 15 MB and 50 ms of JSON, which 20 requests a
 * second from one address would have asked for every second.
 */
export const BYTES_PER_TOKEN = 256 * 1024;

/** Middleware: 429 `rate_limited` with Retry-After beyond the address's rate. */
export function rateLimited(limiter: RateLimiter): MiddlewareHandler<AppEnv> {
  return async function rateLimitMiddleware(c, next) {
    const wait = limiter.take(clientKey(c));
    if (wait > 0) {
      throw new AppError(429, "rate_limited", "too many requests from this address; slow down", {
        "retry-after": String(wait),
      });
    }
    await next();
  };
}
