/**
 * Users, sessions and token checks. Keeps what the hot path needs (user status, bans,
 * verified tokens) in memory, in step with the store, so a token check costs no I/O.
 */
import { createPasswordLogins, type LoginOutcome } from "./password_logins.ts";
import { hashPassword, randomString, safeEqual } from "./password.ts";
import type { AuthChange, AuthStore, StoredUser } from "./store.ts";
import { type Claims, createTokens } from "./tokens.ts";

export { type LoginOutcome, USER_NAME } from "./password_logins.ts";

/** What a token check concludes. */
export type TokenCheck =
  | { ok: true; user: string; jti: string; exp: number }
  | { ok: false; reason: "invalid" | "expired" | "banned" | "inactive" | "unknown_user" | "revoked" };

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
  /** Whether a user `name` exists, active or not, from memory. */
  isUser(name: string): boolean;
  /**
   * The token epoch of `name` while it exists and is active, from memory: a session logged in
   * with a password ends when it changes (a ban, even undone; a re-created user).
   */
  activeEpoch(name: string): string | undefined;
  /**
   * Counts changes to the users and bans in memory: a request that waited after its token was
   * checked (its body coming) checks it again only when this moved.
   */
  readonly changes: number;
  /** Counters for /metrics: token checks by outcome. */
  readonly stats: Record<string, number>;
  /**
   * Password logins answered from the verified-login cache, those that ran scrypt, and those
   * that waited for the same user and password being verified already (a reconnect storm).
   */
  readonly loginStats: { cached: number; scrypt: number; shared: number };
  close(): void;
}

/** Longest a ban is stored (1,000 years): for good, for any token. */
const MAX_BAN_SECONDS = 1_000 * 365 * 86_400;

/** Builds the service and loads users and bans from the store into memory. */
export async function createAuthService(options: AuthServiceOptions): Promise<AuthService> {
  const { store } = options;
  const now = options.now ?? Date.now;
  const cacheSize = options.tokenCacheSize ?? 100_000;
  const tokens = await createTokens({
    secret: options.secret,
    ttlSeconds: options.ttlSeconds,
    cacheSize,
    now,
  });
  /** name → what the hot path needs, in step with the store (watch). */
  const users = new Map<string, { active: boolean; passwordHash: string; tokenEpoch: string }>();
  /** jti → exp (epoch s) */
  const bans = new Map<string, number>();
  const stats: Record<string, number> = {
    ok: 0,
    invalid: 0,
    expired: 0,
    banned: 0,
    inactive: 0,
    unknown_user: 0,
    revoked: 0,
  };
  let changes = 0;
  const setUser = (name: string, user: { active: boolean; passwordHash: string; tokenEpoch: string }) => {
    changes++;
    users.set(name, user);
  };
  const forgetUser = (name: string) => {
    changes++;
    users.delete(name);
  };
  const ban = (jti: string, exp: number) => {
    changes++;
    bans.set(jti, exp);
  };
  const remember = (u: StoredUser) =>
    setUser(u.name, { active: u.active, passwordHash: u.passwordHash, tokenEpoch: u.tokenEpoch });
  const logins = createPasswordLogins(store, { latest: (name) => users.get(name), remember }, cacheSize);

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
  for (const b of await store.listBans()) ban(b.jti, b.exp);

  async function refreshUser(name: string): Promise<void> {
    logins.changed(name); // a login running now reads the change below, not its own older copy
    const u = await store.getUser(name);
    logins.changed(name);
    if (u) remember(u);
    else forgetUser(name);
  }

  const unwatch = store.watch((change: AuthChange) => {
    if (change.kind === "user") refreshUser(change.name).catch((err) => console.error(err));
    else ban(change.jti, change.exp);
  });

  // Bans past their exp cannot matter any more: the token itself has expired.
  const sweep = setInterval(() => {
    const t = now() / 1000;
    for (const [jti, exp] of bans) if (exp <= t) bans.delete(jti);
    tokens.forgetExpired();
  }, 60_000);

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
    const claims = tokens.claims(token);
    return claims instanceof Promise ? claims.then(conclude) : conclude(claims);
  }

  return {
    get changes() {
      return changes;
    },
    stats,
    loginStats: logins.stats,
    login: (name, password) => logins.check(name, password),
    issueToken: (name, epoch) => tokens.issue(name, epoch),
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
      logins.changed(userName);
      remember(user);
      return { ok: true, name: userName, password };
    },
    listUsers() {
      return store.listUsers();
    },
    async deleteUser(userName) {
      const deleted = await store.deleteUser(userName);
      logins.changed(userName);
      forgetUser(userName);
      return deleted;
    },
    async setActive(userName, active) {
      // Deactivating starts a new token epoch: the user's tokens stay dead after a reactivation.
      const tokenEpoch = active ? undefined : crypto.randomUUID();
      const found = await store.setActive(userName, active, tokenEpoch);
      logins.changed(userName);
      const current = users.get(userName);
      if (found && current) {
        setUser(userName, { ...current, active, tokenEpoch: tokenEpoch ?? current.tokenEpoch });
      } else if (found) await refreshUser(userName);
      return found;
    },
    async banToken(token) {
      const check = await checkToken(token);
      if (!check.ok) return false;
      // A token signed with an absurd exp (1e300) is banned for 1,000 years: Deno KV's expireIn
      // and Postgres's timestamps end well before its exp.
      await store.banToken({ jti: check.jti, exp: Math.min(check.exp, now() / 1000 + MAX_BAN_SECONDS) });
      ban(check.jti, check.exp);
      return true;
    },
    isUser(userName) {
      return users.has(userName);
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
