/**
 * Password logins of agent users: scrypt against the stored hash, at most once per password that
 * verified (remembered as a keyed digest until the user changes: the right password of a user
 * deactivated since is answered `inactive` from it too, so agents that keep logging in cost no
 * scrypt either), and once for simultaneous logins with the same user and password (a reconnect
 * storm).
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { BoundedMap } from "../core/bounded_map.ts";
import { hashPassword, verifyPassword } from "./password.ts";
import type { AuthStore, StoredUser } from "./store.ts";

/** User names: what fits a KV key, a URL path segment and a log line without surprises. */
export const USER_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;

/**
 * A password login: `inactive` is the right password of a banned or deactivated user (refused,
 * but not a guess); `wrong` covers unknown users too.
 */
export type LoginOutcome = "ok" | "wrong" | "inactive";

/** What the logins need from the auth service's memory of its users. */
export interface UserMemory {
  /** The user as memory holds it now (the latest word after an admin call or a store change). */
  latest(name: string): { active: boolean; passwordHash: string } | undefined;
  /** Keeps a user read from the store. */
  remember(user: StoredUser): void;
}

export interface PasswordLogins {
  check(name: string, password: string): Promise<LoginOutcome>;
  /**
   * `name` changed in memory (an admin call, the store's watch): its verified password is
   * forgotten, and a login of it running now does not write its older copy of the user back.
   */
  changed(name: string): void;
  readonly stats: { cached: number; scrypt: number; shared: number };
  /** Names with a login verifying now (what is kept per name beyond the verified passwords). */
  running(): number;
}

// A dummy hash so that unknown users cost the same time as known ones (made on first use).
let dummyHash: Promise<string> | undefined;

export function createPasswordLogins(store: AuthStore, users: UserMemory, cacheSize: number): PasswordLogins {
  /**
   * name → HMAC of a password that verified against `passwordHash`. The HMAC key is random
   * per process, so the digests are no use outside it.
   */
  const verified = new BoundedMap<string, { digest: Buffer; passwordHash: string }>(cacheSize);
  const key = randomBytes(32);
  const digestOf = (password: string) => createHmac("sha256", key).update(password).digest();
  /** name + password digest → its scrypt check in flight: simultaneous logins share one. */
  const verifying = new Map<string, Promise<LoginOutcome>>();
  const stats = { cached: 0, scrypt: 0, shared: 0 };
  /**
   * Names with a login verifying now: how many, and how many changes of the user came meanwhile.
   * Only while one runs: a count kept for every name ever changed grew by one entry per name an
   * admin call touched (404s included), for good.
   */
  const running = new Map<string, { logins: number; changes: number }>();

  async function verifyOnce(name: string, password: string, digest: Buffer): Promise<LoginOutcome> {
    // A change of the user while this runs (the store read comes before scrypt and its wait for a
    // slot) must not be undone by this login writing its older copy back over a ban or a deletion.
    const entry = running.get(name) ?? { logins: 0, changes: 0 };
    running.set(name, entry);
    entry.logins++;
    const changesBefore = entry.changes;
    try {
      // No user has a name outside USER_NAME; the store is not asked (Deno KV refuses keys over
      // 2 KB), and the dummy hash keeps the time the same.
      const user = USER_NAME.test(name) ? await store.getUser(name) : null;
      const ok = await verifyPassword(
        password,
        user?.passwordHash ?? await (dummyHash ??= hashPassword(crypto.randomUUID())),
      );
      if (!ok || user === null) return "wrong";
      let active = user.active;
      if (entry.changes !== changesBefore) {
        // Banned, deleted or re-created meanwhile: what memory holds now is the latest word.
        const latest = users.latest(name);
        if (latest === undefined || latest.passwordHash !== user.passwordHash) return "wrong";
        active = latest.active;
      } else {
        users.remember(user); // the token about to be issued carries its epoch
      }
      // The password matches this hash; whether the user may log in is read anew at each check.
      verified.set(name, { digest, passwordHash: user.passwordHash });
      return active ? "ok" : "inactive";
    } finally {
      if (--entry.logins === 0) running.delete(name);
    }
  }

  return {
    stats,
    async check(name, password) {
      const digest = digestOf(password);
      const known = verified.get(name);
      const current = users.latest(name);
      if (
        known !== undefined && current !== undefined && known.passwordHash === current.passwordHash &&
        timingSafeEqual(known.digest, digest)
      ) {
        stats.cached++;
        return current.active ? "ok" : "inactive";
      }
      const flight = `${name}\0${digest.toString("base64")}`;
      const inFlight = verifying.get(flight);
      if (inFlight !== undefined) {
        stats.shared++;
        return inFlight;
      }
      stats.scrypt++;
      const check = verifyOnce(name, password, digest);
      verifying.set(flight, check);
      try {
        return await check;
      } finally {
        verifying.delete(flight);
      }
    },
    changed(name) {
      verified.delete(name);
      const entry = running.get(name);
      if (entry !== undefined) entry.changes++;
    },
    running: () => running.size,
  };
}
