/**
 * AuthStore on Postgres, shared by every instance of a cluster (tables of migration
 * `0100_cluster_auth`). Triggers NOTIFY `poa_auth` on each change; `watch` LISTENs and passes
 * them on, so every instance's AuthService caches follow within milliseconds. After the
 * listening connection reconnects (a Postgres restart), every user and ban is reported once
 * more, since notifications sent meanwhile are lost.
 */
import type postgres from "postgres";
import {
  type AuthChange,
  type AuthStore,
  type Ban,
  type StoredUser,
  StoreUnavailableError,
} from "../auth/store.ts";

/** The NOTIFY channel of the triggers. */
export const AUTH_CHANNEL = "poa_auth";

export interface PgAuthStoreOptions {
  /** How often expired bans are deleted (default 10 minutes). */
  purgeIntervalMs?: number;
  now?: () => number;
  /**
   * The caller's deadline on a call (`authStoreTimeoutMs`): a change is committed only while it can
   * still be answered, so a call answered 503 after it (Postgres stuck) changed nothing. Without
   * it, the change a frozen Postgres took in was made when it resumed, after its 503.
   */
  callDeadlineMs?: number;
}

interface UserRow {
  name: string;
  password_hash: string;
  active: boolean;
  created_at: Date;
  token_epoch: string;
}

function toUser(row: UserRow): StoredUser {
  return {
    name: row.name,
    passwordHash: row.password_hash,
    active: row.active,
    createdAt: row.created_at.toISOString(),
    tokenEpoch: row.token_epoch,
  };
}

/** Parses a trigger payload; undefined for anything else. */
export function parseAuthChange(payload: string): AuthChange | undefined {
  try {
    const v = JSON.parse(payload);
    if (v?.kind === "user" && typeof v.name === "string") return { kind: "user", name: v.name };
    if (v?.kind === "ban" && typeof v.jti === "string" && typeof v.exp === "number") {
      return { kind: "ban", jti: v.jti, exp: v.exp };
    }
  } catch {
    // not ours
  }
  return undefined;
}

/** The Postgres store; `listening()` resolves once invalidations are being received. */
export interface PgAuthStore extends AuthStore {
  listening(): Promise<void>;
}

/** Creates the store over a migrated pool (the caller owns closing the pool). */
export function createPgAuthStore(sql: postgres.Sql, options: PgAuthStoreOptions = {}): PgAuthStore {
  const now = options.now ?? Date.now;
  /**
   * The users this instance has seen (created, read, or heard changed): re-checked after a LISTEN
   * reconnect, for the changes missed meanwhile. Not the names a read found no user for: logins
   * with made-up names would grow it for good, and every reconnect would re-read them all.
   */
  const knownNames = new Set<string>();
  /** getUser calls per name run one after another, so a later change is never overwritten by an earlier read. */
  const userReads = new Map<string, Promise<unknown>>();
  const watchers = new Set<(change: AuthChange) => void>();
  /** Changes heard before anyone watches (between LISTEN and the cache load): replayed to the first watcher. */
  const early: AuthChange[] = [];
  let listening: Promise<{ unlisten(): Promise<void> }> | undefined;
  let closed = false;

  // Past this, a change is rolled back rather than committed: its COMMIT's round trip must still
  // fit before the caller's deadline (a Postgres that freezes during that round trip is the one
  // case left where a change answered 503 is made).
  const commitByMs = options.callDeadlineMs === undefined
    ? Infinity
    : options.callDeadlineMs - Math.min(1_000, options.callDeadlineMs / 5);

  /** Runs a change in a transaction, committed only if it is done within `commitByMs` of the call. */
  async function change<T>(what: string, run: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
    const started = performance.now();
    return await sql.begin(async (tx) => {
      const result = await run(tx);
      if (performance.now() - started > commitByMs) {
        throw new StoreUnavailableError(
          `the auth store was too slow to ${what}: rolled back, nothing changed`,
        );
      }
      return result;
    }) as T;
  }

  async function purge(): Promise<void> {
    await sql`delete from poa_banned_tokens where expires_at <= now()`;
  }
  const purgeTimer = setInterval(() => {
    purge().catch((err) => console.error("auth store: purging expired bans failed:", err));
  }, options.purgeIntervalMs ?? 600_000);
  Deno.unrefTimer(purgeTimer);

  function emit(change: AuthChange): void {
    if (change.kind === "user") knownNames.add(change.name);
    if (watchers.size === 0) {
      if (early.length < 100_000) early.push(change);
      return;
    }
    for (const fn of watchers) {
      try {
        fn(change);
      } catch (err) {
        console.error("auth store: watcher failed:", err);
      }
    }
  }

  async function resync(): Promise<void> {
    const names = new Set(knownNames);
    for (const u of await store.listUsers()) names.add(u.name);
    for (const name of names) emit({ kind: "user", name });
    for (const b of await store.listBans()) emit({ kind: "ban", jti: b.jti, exp: b.exp });
  }

  function startListening(): void {
    if (listening || closed) return;
    let first = true;
    listening = sql.listen(AUTH_CHANNEL, (payload) => {
      const change = parseAuthChange(payload);
      if (change) emit(change);
    }, () => {
      if (first) {
        first = false;
        return;
      }
      console.warn("auth store: LISTEN reconnected; reloading users and bans");
      resync().catch((err) => console.error("auth store: reload after reconnect failed:", err));
    });
    listening.catch((err) => {
      console.error("auth store: LISTEN failed:", err);
      listening = undefined;
    });
  }

  const store: PgAuthStore = {
    async listening() {
      startListening();
      if (listening) await listening;
    },
    async createUser(user) {
      const rows = await change("create a user", (tx) =>
        tx`
        insert into poa_users (name, password_hash, active, created_at, token_epoch)
        values (${user.name}, ${user.passwordHash}, ${user.active}, ${user.createdAt}, ${user.tokenEpoch})
        on conflict (name) do nothing
        returning name`);
      knownNames.add(user.name);
      return rows.length > 0 ? "created" : "exists";
    },
    getUser(name) {
      const previous = userReads.get(name) ?? Promise.resolve();
      const read = previous.catch(() => {}).then(async () => {
        const [row] = await sql<UserRow[]>`
          select name, password_hash, active, created_at, token_epoch from poa_users where name = ${name}`;
        if (row) knownNames.add(name);
        else knownNames.delete(name);
        return row ? toUser(row) : null;
      });
      userReads.set(name, read);
      read.finally(() => {
        if (userReads.get(name) === read) userReads.delete(name);
      }).catch(() => {});
      return read;
    },
    async listUsers() {
      const rows = await sql<UserRow[]>`
        select name, password_hash, active, created_at, token_epoch from poa_users order by created_at, name`;
      for (const r of rows) knownNames.add(r.name);
      return rows.map(toUser);
    },
    async deleteUser(name) {
      const rows = await change(
        "delete a user",
        (tx) => tx`delete from poa_users where name = ${name} returning name`,
      );
      return rows.length > 0;
    },
    async setActive(name, active, tokenEpoch) {
      const rows = await change(
        "change a user",
        (tx) =>
          tokenEpoch === undefined
            ? tx`update poa_users set active = ${active} where name = ${name} returning name`
            : tx`
          update poa_users set active = ${active}, token_epoch = ${tokenEpoch} where name = ${name} returning name`,
      );
      return rows.length > 0;
    },
    async banToken(ban: Ban) {
      if (ban.exp * 1000 <= now()) return;
      await change("ban a token", (tx) =>
        tx`
        insert into poa_banned_tokens (jti, expires_at) values (${ban.jti}, to_timestamp(${ban.exp}))
        on conflict (jti) do nothing`);
    },
    async listBans() {
      const rows = await sql<{ jti: string; exp: number }[]>`
        select jti, floor(extract(epoch from expires_at))::float8 as exp
        from poa_banned_tokens where expires_at > now()`;
      return rows.map((r) => ({ jti: r.jti, exp: r.exp }));
    },
    async ensureSecret(candidate) {
      const inserted = await sql<{ value: string }[]>`
        insert into poa_settings (key, value) values ('jwt_secret', ${candidate})
        on conflict (key) do nothing
        returning value`;
      if (inserted.length > 0) return { secret: candidate, created: true };
      const [row] = await sql<{ value: string }[]>`select value from poa_settings where key = 'jwt_secret'`;
      if (!row) throw new Error("poa_settings.jwt_secret vanished while being read");
      return { secret: row.value, created: false };
    },
    watch(onChange) {
      watchers.add(onChange);
      for (const change of early.splice(0)) onChange(change);
      startListening();
      return () => {
        watchers.delete(onChange);
      };
    },
    async close() {
      closed = true;
      clearInterval(purgeTimer);
      watchers.clear();
      const l = listening;
      listening = undefined;
      if (l) await l.then((x) => x.unlisten()).catch(() => {});
    },
  };
  purge().catch(() => {});
  return store;
}
