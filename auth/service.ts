/**
 * Users, sessions and token checks. Keeps what the hot path needs (user status, bans,
 * verified tokens) in memory, in step with the store, so a token check costs no I/O.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { sign, verify } from "hono/jwt";
import { hashPassword, randomString, safeEqual, verifyPassword } from "./password.ts";
import type { AuthChange, AuthStore, StoredUser } from "./store.ts";
import { BoundedMap } from "../core/bounded_map.ts";

/** User names: what fits a KV key, a URL path segment and a log line without surprises. */
export const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/** What a token check concludes. */
export type TokenCheck =
  | { ok: true; user: string; jti: string; exp: number }
  | { ok: false; reason: "invalid" | "expired" | "banned" | "inactive" | "unknown_user" | "revoked" };

/**
 * A password login: `inactive` is the right password of a banned or deactivated user (refused,
 * but not a guess); `wrong` covers unknown users too.
 */
export type LoginOutcome = "ok" | "wrong" | "inactive";

export type CreateUserResult =
  | { ok: true; name: string; password: string }
  | { ok: false; reason: "exists" };

export interface AuthServiceOptions {
  store: AuthStore;
  secret: string;
  ttlSeconds: number;
  admins: Array<{ name: string; password: string }>;
  /**
   * Verified tokens (and verified logins) remembered at most (default 100,000): the least
   * recently used are forgotten first, and the last half of that are always kept.
   */
  tokenCacheSize?: number;
  now?: () => number;
}

/** What a signature-checked token says; `ep` is "" for tokens issued before token epochs. */
type Claims = { sub: string; jti: string; exp: number; ep: string };

/** The auth operations routes use. */
export interface AuthService {
  /**
   * Checks user/password of an agent user. A password verified once is remembered (as a keyed
   * digest) while the user's stored hash stays the same and the user stays active, so a
   * repeated login costs no scrypt.
   */
  login(name: string, password: string): Promise<LoginOutcome>;
  /**
   * Signs a token for `name` with `sub`, `iat`, `exp`, `jti` and `ep`: the token epoch the
   * password was verified under (`activeEpoch` read right after `login`), not the one the user
   * has when the token is made: a ban or a re-creation in between leaves the token dead.
   */
  issueToken(name: string, epoch: string): Promise<string>;
  /**
   * Checks a token: signature, expiry, bans, user. A token verified before is answered from
   * memory without a promise (the request path awaits only on a first sight).
   */
  checkToken(token: string): TokenCheck | Promise<TokenCheck>;
  isAdmin(name: string, password: string): boolean;
  createUser(name: string | undefined, password: string | undefined): Promise<CreateUserResult>;
  listUsers(): Promise<StoredUser[]>;
  deleteUser(name: string): Promise<boolean>;
  setActive(name: string, active: boolean): Promise<boolean>;
  /** Bans a currently valid token; false if it is not one. */
  banToken(token: string): Promise<boolean>;
  /** Whether `name` exists and is active, from memory. */
  isActiveUser(name: string): boolean;
  /**
   * The token epoch of `name` while it exists and is active, from memory: a session logged in
   * with a password ends when it changes (a ban, even undone; a re-created user).
   */
  activeEpoch(name: string): string | undefined;
  /** Counters for /metrics: token checks by outcome. */
  readonly stats: Record<string, number>;
  /**
   * Password logins answered from the verified-login cache, those that ran scrypt, and those
   * that waited for the same user and password being verified already (a reconnect storm).
   */
  readonly loginStats: { cached: number; scrypt: number; shared: number };
  close(): void;
}

async function importKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

/** Longest a ban is stored (1,000 years): for good, for any token. */
const MAX_BAN_SECONDS = 1_000 * 365 * 86_400;

// A dummy hash so that unknown users cost the same time as known ones (made on first use).
let dummyHash: Promise<string> | undefined;

/** Builds the service and loads users and bans from the store into memory. */
export async function createAuthService(options: AuthServiceOptions): Promise<AuthService> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const key = await importKey(options.secret);
  const cacheSize = options.tokenCacheSize ?? 100_000;
  /** name → what the hot path needs, in step with the store (watch). */
  const users = new Map<string, { active: boolean; passwordHash: string; tokenEpoch: string }>();
  /**
   * name → HMAC of a password that verified against `passwordHash`. The HMAC key is random
   * per process, so the digests are no use outside it.
   */
  const verifiedLogins = new BoundedMap<string, { digest: Buffer; passwordHash: string }>(cacheSize);
  const loginKey = randomBytes(32);
  const digestOf = (password: string) => createHmac("sha256", loginKey).update(password).digest();
  /** jti → exp (epoch s) */
  const bans = new Map<string, number>();
  /** token → verified claims; only signature-checked tokens enter. */
  const verified = new BoundedMap<string, Claims>(cacheSize);
  const stats: Record<string, number> = {
    ok: 0,
    invalid: 0,
    expired: 0,
    banned: 0,
    inactive: 0,
    unknown_user: 0,
    revoked: 0,
  };
  const loginStats = { cached: 0, scrypt: 0, shared: 0 };
  /** name + password digest → its scrypt check in flight: simultaneous logins share one. */
  const verifying = new Map<string, Promise<LoginOutcome>>();
  const remember = (u: StoredUser) =>
    users.set(u.name, { active: u.active, passwordHash: u.passwordHash, tokenEpoch: u.tokenEpoch });
  /**
   * Per user name, bumped by every change to its entry in `users` an admin call or the store's
   * watch makes. A login that read its user from the store before such a change (the read comes
   * before scrypt and its wait for a slot) must not write that older copy back over a ban or a
   * deletion. Per name: a change of another user does not touch a login. One small entry per name
   * an admin or the watch ever changed.
   */
  const userChanges = new Map<string, number>();
  const changed = (name: string) => userChanges.set(name, (userChanges.get(name) ?? 0) + 1);

  // Users from before token epochs (epoch ""), and their tokens (no epoch claim, read as ""):
  // deactivating or re-creating such a user under that version did not end its tokens, which a
  // reactivation here brought back. A first epoch ends them all once (agents log in again).
  let renewed = 0;
  for (const u of await store.listUsers()) {
    if (u.tokenEpoch === "") {
      const epoch = crypto.randomUUID();
      if (await store.setActive(u.name, u.active, epoch)) {
        u.tokenEpoch = epoch;
        renewed++;
      }
    }
    remember(u);
  }
  if (renewed > 0) {
    console.warn(
      `auth: ${renewed} user(s) from before token epochs got one: their older tokens end (agents log in again)`,
    );
  }
  for (const b of await store.listBans()) bans.set(b.jti, b.exp);

  async function refreshUser(name: string): Promise<void> {
    changed(name); // a login running now reads the change below, not its own older copy
    const u = await store.getUser(name);
    changed(name);
    if (u) remember(u);
    else users.delete(name);
    verifiedLogins.delete(name);
  }

  const unwatch = store.watch((change: AuthChange) => {
    if (change.kind === "user") refreshUser(change.name).catch((err) => console.error(err));
    else bans.set(change.jti, change.exp);
  });

  // Bans past their exp cannot matter any more: the token itself has expired.
  const sweep = setInterval(() => {
    const t = now() / 1000;
    for (const [jti, exp] of bans) if (exp <= t) bans.delete(jti);
    for (const [tok, claims] of verified) if (claims.exp <= t) verified.delete(tok);
  }, 60_000);

  async function verifyClaims(token: string): Promise<Claims | "invalid" | "expired"> {
    let payload: Record<string, unknown>;
    try {
      // exp is checked below, after the signature, so a forged token is never "expired".
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

  /** What verified claims (or their failure) mean now: expiry, bans and the user's state. */
  function conclude(claims: Claims | "invalid" | "expired"): TokenCheck {
    let result: TokenCheck;
    if (claims === "invalid" || claims === "expired") result = { ok: false, reason: claims };
    else if (claims.exp <= now() / 1000) result = { ok: false, reason: "expired" };
    else if (bans.has(claims.jti)) result = { ok: false, reason: "banned" };
    else {
      const user = users.get(claims.sub);
      if (user === undefined) result = { ok: false, reason: "unknown_user" };
      else if (user.tokenEpoch !== claims.ep) result = { ok: false, reason: "revoked" };
      else if (!user.active) result = { ok: false, reason: "inactive" };
      else result = { ok: true, user: claims.sub, jti: claims.jti, exp: claims.exp };
    }
    stats[result.ok ? "ok" : result.reason]!++;
    return result;
  }

  function checkToken(token: string): TokenCheck | Promise<TokenCheck> {
    const cached = verified.get(token);
    return cached ? conclude(cached) : verifyClaims(token).then(conclude);
  }

  return {
    stats,
    loginStats,
    async login(name, password) {
      const digest = digestOf(password);
      const known = verifiedLogins.get(name);
      const current = users.get(name);
      if (
        known !== undefined && current !== undefined && current.active &&
        known.passwordHash === current.passwordHash && timingSafeEqual(known.digest, digest)
      ) {
        loginStats.cached++;
        return "ok";
      }
      const flight = `${name}\0${digest.toString("base64")}`;
      const inFlight = verifying.get(flight);
      if (inFlight !== undefined) {
        loginStats.shared++;
        return inFlight;
      }
      loginStats.scrypt++;
      const check = (async () => {
        const changesBefore = userChanges.get(name);
        // No user has a name outside USER_NAME (above); the store is not asked (Deno KV
        // refuses keys over 2 KB), and the dummy hash keeps the time the same.
        const user = USER_NAME.test(name) ? await store.getUser(name) : null;
        const ok = await verifyPassword(
          password,
          user?.passwordHash ?? await (dummyHash ??= hashPassword(crypto.randomUUID())),
        );
        if (!ok || user === null) return "wrong";
        if (userChanges.get(name) !== changesBefore) {
          // Banned, deleted or re-created meanwhile: what memory holds now is the latest word.
          const latest = users.get(name);
          if (latest === undefined || latest.passwordHash !== user.passwordHash) return "wrong";
          if (!latest.active) return "inactive";
        } else {
          if (!user.active) return "inactive";
          remember(user); // the token about to be issued carries its epoch
        }
        verifiedLogins.set(name, { digest, passwordHash: user.passwordHash });
        return "ok" as const;
      })();
      verifying.set(flight, check);
      try {
        return await check;
      } finally {
        verifying.delete(flight);
      }
    },
    async issueToken(name, epoch) {
      const iat = Math.floor(now() / 1000);
      return await sign(
        {
          sub: name,
          iat,
          exp: iat + options.ttlSeconds,
          jti: crypto.randomUUID(),
          ep: epoch,
        },
        key,
        "HS256",
      );
    },
    checkToken,
    isAdmin(name, password) {
      let found = false;
      // Compare against every admin so the time does not reveal which names exist.
      for (const admin of options.admins) {
        const nameOk = safeEqual(name, admin.name);
        const passOk = safeEqual(password, admin.password);
        if (nameOk && passOk) found = true;
      }
      return found;
    },
    async createUser(requestedName, requestedPassword) {
      const userName = requestedName ?? randomString(8);
      const password = requestedPassword ?? randomString(15);
      const passwordHash = await hashPassword(password);
      const user: StoredUser = {
        name: userName,
        passwordHash,
        active: true,
        createdAt: new Date(now()).toISOString(),
        tokenEpoch: crypto.randomUUID(),
      };
      const result = await store.createUser(user);
      if (result === "exists") return { ok: false, reason: "exists" };
      changed(userName);
      remember(user);
      return { ok: true, name: userName, password };
    },
    listUsers() {
      return store.listUsers();
    },
    async deleteUser(userName) {
      const deleted = await store.deleteUser(userName);
      changed(userName);
      users.delete(userName);
      verifiedLogins.delete(userName);
      return deleted;
    },
    async setActive(userName, active) {
      // Deactivating starts a new token epoch: the user's tokens stay dead after a reactivation.
      const tokenEpoch = active ? undefined : crypto.randomUUID();
      const found = await store.setActive(userName, active, tokenEpoch);
      changed(userName);
      const current = users.get(userName);
      if (found && current) {
        users.set(userName, { ...current, active, tokenEpoch: tokenEpoch ?? current.tokenEpoch });
      } else if (found) await refreshUser(userName);
      verifiedLogins.delete(userName);
      return found;
    },
    async banToken(token) {
      const check = await checkToken(token);
      if (!check.ok) return false;
      // A token signed with an absurd exp (1e300) is banned for 1,000 years: Deno KV's expireIn
      // and Postgres's timestamps end well before its exp.
      await store.banToken({ jti: check.jti, exp: Math.min(check.exp, now() / 1000 + MAX_BAN_SECONDS) });
      bans.set(check.jti, check.exp);
      return true;
    },
    isActiveUser(userName) {
      return users.get(userName)?.active === true;
    },
    activeEpoch(userName) {
      const user = users.get(userName);
      return user?.active ? user.tokenEpoch : undefined;
    },
    close() {
      clearInterval(sweep);
      unwatch();
    },
  };
}
