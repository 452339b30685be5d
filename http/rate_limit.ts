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
      const t = now();
      let bucket = buckets.get(address);
      if (bucket === undefined) {
        bucket = { tokens: options.burst, at: t };
        buckets.set(address, bucket);
      }
      bucket.tokens = Math.min(options.burst, bucket.tokens + (t - bucket.at) * options.perSecond / 1000);
      bucket.at = t;
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      refused++;
      return Math.max(1, Math.ceil((1 - bucket.tokens) * 1000 / options.perSecond / 1000));
    },
  };
}

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
