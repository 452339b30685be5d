/**
 * Brute-force protection for password logins (Basic auth on `/session` and the admin routes,
 * the ethstats `hello`). An attempt is counted when it *starts*, so guesses sent in parallel get
 * no more password checks than the limit allows; one that turns out right (or right for a
 * banned or inactive user: not a guess) is taken back when it ends.
 *
 * Keys, each a sliding window of attempts:
 * - per user name and client address pair (`maxFailures`): a misconfigured or banned agent
 *   retrying every few seconds locks out only itself, not its neighbours behind one NAT;
 * - per client address (`maxFailuresPerAddress`, higher): one address guessing across many names;
 * - admin logins in their own keys, so no agent at an address can lock the admins out.
 *
 * Memory: at most `maxKeys` keys (the least recently used are forgotten, core/bounded_map.ts),
 * each holding at most its limit of timestamps: with the defaults about 50,000 × (100 × 8 B +
 * ~150 B) ≈ 48 MB worst case.
 */
import { BoundedMap } from "../core/bounded_map.ts";

/** User names longer than this (no agent user has one, auth/service.ts USER_NAME) share a key. */
const MAX_NAME_IN_KEY = 64;

export interface LoginLimitOptions {
  /** Failed attempts within the window that lock a user name at an address; 0 turns the limit off. */
  maxFailures: number;
  /** Failed attempts within the window that lock an address for every name (default 10 × maxFailures). */
  maxFailuresPerAddress?: number;
  windowSeconds: number;
  /** Clock in epoch ms (tests inject one). */
  now?: () => number;
  /** Most keys tracked at once; the least recently used are forgotten beyond it. */
  maxKeys?: number;
}

/** Who is logging in: agent users and admins are counted apart. */
export type LoginScope = "agent" | "admin";

/** How an attempt ended: only `wrong` stays counted. */
export type AttemptOutcome = "ok" | "wrong" | "not_a_guess";

/**
 * A password check's result as the limit counts it: an inactive user's right password is not a
 * guess, nor is a check that could not run (undefined: the auth store away), which was counted.
 */
export function attemptOutcome(login: "ok" | "wrong" | "inactive" | undefined): AttemptOutcome {
  return login === "inactive" || login === undefined ? "not_a_guess" : login;
}

export interface LoginAttempt {
  /** Ends the attempt (once; later calls do nothing). */
  settle(outcome: AttemptOutcome): void;
}

export type AttemptStart =
  | { limited: false; attempt: LoginAttempt }
  /** `by`: the address's key is at its limit (every name), or only this name's at this address. */
  | { limited: true; retryAfterSeconds: number; by: "address" | "pair" };

/** A sliding-window attempt counter. */
export interface LoginLimiter {
  /**
   * Starts an attempt for `user` from `address` (requests naming no user are no attempt): refused
   * when a key is at its limit, else counted until it is settled as not wrong.
   */
  begin(scope: LoginScope, address: string, user: string): AttemptStart;
  /** Attempts that ended wrong, since start (for /metrics). */
  readonly failures: number;
  /** Attempts refused because a key was at its limit, since start (for /metrics). */
  readonly refused: number;
  /** Keys tracked now. */
  readonly keys: number;
}

/** Creates a limiter. */
export function createLoginLimiter(options: LoginLimitOptions): LoginLimiter {
  const now = options.now ?? Date.now;
  const windowMs = options.windowSeconds * 1000;
  const maxKeys = options.maxKeys ?? 50_000;
  const perPair = options.maxFailures;
  const perAddress = options.maxFailuresPerAddress ?? perPair * 10;
  /** key → attempt times, oldest first; the least recently used keys are dropped first. */
  const attempts = new BoundedMap<string, number[]>(maxKeys);
  /** key → its attempts still running (their password check is not done). */
  const running = new Map<string, number>();
  let failures = 0;
  let refused = 0;

  function recent(key: string, t: number): number[] {
    const list = attempts.get(key) ?? [];
    while (list.length > 0 && list[0]! <= t - windowMs) list.shift();
    return list;
  }

  function keysOf(scope: LoginScope, address: string, user: string): Array<[string, number]> {
    // A Basic header may name ~3 KB; no agent user's name is over 64 characters, so the longer
    // ones (guesses all) share one key per address, and a key stays ~150 B.
    const name = user.length > MAX_NAME_IN_KEY ? "\0long" : user;
    return [[`${scope}\0addr\0${address}`, perAddress], [`${scope}\0pair\0${address}\0${name}`, perPair]];
  }

  return {
    get failures() {
      return failures;
    },
    get refused() {
      return refused;
    },
    get keys() {
      return attempts.size;
    },
    begin(scope, address, user) {
      if (perPair <= 0) {
        return {
          limited: false,
          attempt: {
            settle(outcome) {
              if (outcome === "wrong") failures++;
            },
          },
        };
      }
      const t = now();
      const keys = keysOf(scope, address, user);
      let retryAt = 0;
      let by: "address" | "pair" = "pair";
      for (const [index, [key, max]] of keys.entries()) {
        const list = recent(key, t);
        // Locked until the oldest attempt that keeps the count at the limit leaves the window; but
        // attempts still running may turn out right and be taken back (a fleet logging in at once
        // after a restart): then it is worth trying again in a second.
        if (list.length >= max) {
          retryAt = Math.max(retryAt, running.has(key) ? t + 1000 : list[list.length - max]! + windowMs);
          if (index === 0) by = "address"; // keysOf puts the address's key first
        }
      }
      if (retryAt > 0) {
        refused++;
        return { limited: true, retryAfterSeconds: Math.max(1, Math.ceil((retryAt - t) / 1000)), by };
      }
      for (const [key, max] of keys) {
        const list = recent(key, t);
        list.push(t);
        if (list.length > max) list.shift();
        attempts.set(key, list);
        running.set(key, (running.get(key) ?? 0) + 1);
      }
      let settled = false;
      return {
        limited: false,
        attempt: {
          settle(outcome) {
            if (settled) return;
            settled = true;
            for (const [key] of keys) {
              const n = running.get(key)! - 1;
              if (n > 0) running.set(key, n);
              else running.delete(key);
            }
            if (outcome === "wrong") {
              failures++;
              return;
            }
            for (const [key] of keys) {
              const list = attempts.get(key);
              const i = list?.lastIndexOf(t) ?? -1;
              if (i >= 0) list!.splice(i, 1);
              if (list?.length === 0) attempts.delete(key);
            }
          },
        },
      };
    },
  };
}
