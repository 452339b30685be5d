/**
 * Session tokens: HS256 JWTs signed and verified with the service's secret (one CryptoKey,
 * imported once: hono/jwt re-imports a secret given as a string on every call). A token whose
 * signature verified is remembered until it expires, so a repeated check costs no crypto.
 */
import { sign, verify } from "hono/jwt";
import { BoundedMap } from "../core/bounded_map.ts";

/** What a signature-checked token says; `ep` is "" for tokens issued before token epochs. */
export type Claims = { sub: string; jti: string; exp: number; ep: string };

export interface TokenOptions {
  secret: string;
  ttlSeconds: number;
  /** Verified tokens remembered at most (the least recently used forgotten first). */
  cacheSize: number;
  now: () => number;
}

export interface Tokens {
  /**
   * The claims of a token whose signature verified, or why not: from memory, without a promise,
   * for a token verified before. Expiry is checked after the signature (a forged token is never
   * "expired"); bans and users are the caller's.
   */
  claims(token: string): Claims | "invalid" | "expired" | Promise<Claims | "invalid" | "expired">;
  /** Signs a token for `name` with `sub`, `iat`, `exp`, `jti` and the token epoch `ep`. */
  issue(name: string, epoch: string): Promise<string>;
  /** Forgets remembered tokens that have expired. */
  forgetExpired(): void;
}

export async function createTokens(options: TokenOptions): Promise<Tokens> {
  const { now } = options;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(options.secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
  /** token → verified claims; only signature-checked tokens enter. */
  const verified = new BoundedMap<string, Claims>(options.cacheSize);

  async function verifyClaims(token: string): Promise<Claims | "invalid" | "expired"> {
    let payload: Record<string, unknown>;
    try {
      payload = await verify(token, key, { alg: "HS256", exp: false, iat: false });
    } catch {
      return "invalid";
    }
    const { sub, jti, exp, ep } = payload;
    if (typeof sub !== "string" || typeof jti !== "string" || typeof exp !== "number") {
      return "invalid";
    }
    if (ep !== undefined && typeof ep !== "string") return "invalid";
    if (exp <= now() / 1000) return "expired";
    const claims = { sub, jti, exp, ep: ep ?? "" };
    verified.set(token, claims);
    return claims;
  }

  return {
    claims: (token) => verified.get(token) ?? verifyClaims(token),
    async issue(name, epoch) {
      const iat = Math.floor(now() / 1000);
      const claims = { sub: name, iat, exp: iat + options.ttlSeconds, jti: crypto.randomUUID(), ep: epoch };
      return await sign(claims, key, "HS256");
    },
    forgetExpired() {
      const t = now() / 1000;
      for (const [token, claims] of verified) if (claims.exp <= t) verified.delete(token);
    },
  };
}
