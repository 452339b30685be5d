/** AuthStore on Deno KV (single node). */
import { banKey, bansPrefix, jwtSecretKey, userKey, usersPrefix } from "./kv_keys.ts";
import { type AuthStore, type Ban, type StoredUser, withStorageFailures } from "./store.ts";

interface UserValueV1 {
  v: 1;
  passwordHash: string;
  active: boolean;
  createdAt: string;
  /** Missing in records written before token epochs. */
  tokenEpoch?: string;
}

function toUser(name: string, value: UserValueV1): StoredUser {
  return {
    name,
    passwordHash: value.passwordHash,
    active: value.active,
    createdAt: value.createdAt,
    tokenEpoch: value.tokenEpoch ?? "",
  };
}

/**
 * Creates the KV-backed auth store over an open KV handle (the caller owns closing it). A full or
 * failing disk makes its calls fail with StoreUnavailableError (503).
 */
export function createKvAuthStore(kv: Deno.Kv): AuthStore {
  return withStorageFailures({
    async createUser(user) {
      const value: UserValueV1 = {
        v: 1,
        passwordHash: user.passwordHash,
        active: user.active,
        createdAt: user.createdAt,
        tokenEpoch: user.tokenEpoch,
      };
      const res = await kv.atomic().check({ key: userKey(user.name), versionstamp: null })
        .set(userKey(user.name), value).commit();
      return res.ok ? "created" : "exists";
    },
    async getUser(name) {
      const entry = await kv.get<UserValueV1>(userKey(name));
      return entry.value ? toUser(name, entry.value) : null;
    },
    async listUsers() {
      const users: StoredUser[] = [];
      for await (const entry of kv.list<UserValueV1>({ prefix: usersPrefix() })) {
        users.push(toUser(String(entry.key[1]), entry.value));
      }
      return users;
    },
    async deleteUser(name) {
      const entry = await kv.get(userKey(name));
      if (entry.value === null) return false;
      const res = await kv.atomic().check(entry).delete(userKey(name)).commit();
      return res.ok;
    },
    async setActive(name, active, tokenEpoch) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const entry = await kv.get<UserValueV1>(userKey(name));
        if (entry.value === null) return false;
        const value = { ...entry.value, active, tokenEpoch: tokenEpoch ?? entry.value.tokenEpoch };
        const res = await kv.atomic().check(entry).set(userKey(name), value).commit();
        if (res.ok) return true;
      }
      throw new Error(`setActive(${name}) kept conflicting`);
    },
    async banToken(ban: Ban) {
      // Deno KV takes whole milliseconds: an exp with a fraction (a capped one is now/1000 + 1,000
      // years) threw "expireIn must be a non-negative integer" now and then. Rounded up: never shorter.
      const ttl = Math.ceil(ban.exp * 1000 - Date.now());
      if (ttl <= 0) return;
      await kv.set(banKey(ban.jti), { v: 1, exp: ban.exp }, { expireIn: ttl });
    },
    async listBans() {
      const bans: Ban[] = [];
      const now = Date.now() / 1000;
      for await (const entry of kv.list<{ exp: number }>({ prefix: bansPrefix() })) {
        // expireIn deletes lazily; skip what has already expired.
        if (entry.value.exp > now) bans.push({ jti: String(entry.key[1]), exp: entry.value.exp });
      }
      return bans;
    },
    async ensureSecret(candidate) {
      const res = await kv.atomic().check({ key: jwtSecretKey(), versionstamp: null })
        .set(jwtSecretKey(), candidate).commit();
      if (res.ok) return { secret: candidate, created: true };
      const entry = await kv.get<string>(jwtSecretKey());
      return { secret: entry.value!, created: false };
    },
    watch() {
      // One process owns the KV file: every change goes through this instance's AuthService.
      return () => {};
    },
    close() {},
  });
}
