import assert from "node:assert/strict";
import postgres from "postgres";
import {
  type AuthChange,
  postgresUnavailable,
  StoreUnavailableError,
  withStorageFailures,
} from "../auth/store.ts";
import { migrate } from "../db/migrate.ts";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { AUTH_CHANNEL, createPgAuthStore } from "./pg_auth_store.ts";

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("pg auth store: users, bans and the JWT secret are shared, and every change reaches the other instances' watchers", async () => {
  const pg = await startTestPostgres();
  // Two instances: two pools on one database.
  const other = postgres(pg.url, { max: 2, onnotice: () => {} });
  const a = createPgAuthStore(pg.sql);
  const b = createPgAuthStore(other);
  try {
    await migrate(pg.sql);
    const seen: AuthChange[] = [];
    const unwatch = b.watch((change) => seen.push(change));
    await b.listening();

    const user = {
      name: "node1",
      passwordHash: "hash",
      active: true,
      createdAt: new Date().toISOString(),
      tokenEpoch: "e1",
    };
    assert.equal(await a.createUser(user), "created");
    assert.equal(await b.createUser(user), "exists");
    assert.deepEqual(await b.getUser("node1"), user);
    assert.deepEqual((await b.listUsers()).map((u) => u.name), ["node1"]);
    await until(() => seen.some((c) => c.kind === "user" && c.name === "node1"), 1000, "create notified");

    seen.length = 0;
    assert.equal(await a.setActive("node1", false), true);
    await until(() => seen.length > 0, 1000, "deactivation notified");
    assert.equal((await b.getUser("node1"))?.active, false);
    assert.equal(await a.setActive("nobody", false), false);

    // An operator's change by hand is pushed as well (triggers, not the store).
    seen.length = 0;
    await pg.sql`update poa_users set active = true where name = 'node1'`;
    await until(
      () => seen.some((c) => c.kind === "user" && c.name === "node1"),
      1000,
      "manual change notified",
    );

    const exp = Math.floor(Date.now() / 1000) + 60;
    await a.banToken({ jti: "j1", exp });
    await a.banToken({ jti: "old", exp: Math.floor(Date.now() / 1000) - 1 }); // already expired: not kept
    await until(
      () => seen.some((c) => c.kind === "ban" && c.jti === "j1" && c.exp === exp),
      1000,
      "ban notified",
    );
    assert.deepEqual(await b.listBans(), [{ jti: "j1", exp }]);

    seen.length = 0;
    assert.equal(await b.deleteUser("node1"), true);
    assert.equal(await b.deleteUser("node1"), false);
    await until(() => seen.some((c) => c.kind === "user" && c.name === "node1"), 1000, "delete notified");
    assert.equal(await a.getUser("node1"), null);

    const first = await a.ensureSecret("secret-one-of-enough-length");
    const second = await b.ensureSecret("secret-two-of-enough-length");
    assert.deepEqual(first, { secret: "secret-one-of-enough-length", created: true });
    assert.deepEqual(second, { secret: "secret-one-of-enough-length", created: false });
    unwatch();
  } finally {
    await a.close();
    await b.close();
    await other.end({ timeout: 1 });
    await pg.close();
  }
});

Deno.test("pg auth store: expired bans are purged from the table", async () => {
  const pg = await startTestPostgres();
  try {
    await migrate(pg.sql);
    await pg
      .sql`insert into poa_banned_tokens (jti, expires_at) values ('gone', now() - interval '1 second')`;
    const store = createPgAuthStore(pg.sql, { purgeIntervalMs: 20 });
    try {
      const deadline = Date.now() + 2000;
      while ((await pg.sql`select 1 from poa_banned_tokens where jti = 'gone'`).length > 0) {
        assert.ok(Date.now() < deadline, "expired ban still in the table");
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual(await store.listBans(), []);
    } finally {
      await store.close();
    }
  } finally {
    await pg.close();
  }
});

Deno.test("pg auth store: after a LISTEN reconnect it re-reads the users it knew, not every name a login guessed", async () => {
  const pg = await startTestPostgres();
  const store = createPgAuthStore(pg.sql);
  try {
    await migrate(pg.sql);
    const seen: string[] = [];
    const unwatch = store.watch((change) => change.kind === "user" && seen.push(change.name));
    await store.listening();
    const user = {
      name: "node1",
      passwordHash: "h",
      active: true,
      createdAt: new Date().toISOString(),
      tokenEpoch: "e",
    };
    await store.createUser(user);
    assert.deepEqual(await store.getUser("node1"), user);
    // Logins with made-up names: each asks the store for its user.
    for (let i = 0; i < 300; i++) assert.equal(await store.getUser(`guess${i}`), null);
    await until(() => seen.includes("node1"), 2000, "the create notified");
    seen.length = 0;
    const listeners = await pg.sql<{ pid: number }[]>`
      select pid from pg_stat_activity where query ilike ${"listen%" + AUTH_CHANNEL + "%"}`;
    assert.equal(listeners.length, 1);
    await pg.sql`select pg_terminate_backend(${listeners[0]!.pid})`;
    await until(() => seen.includes("node1"), 10_000, "the reload after the reconnect");
    await new Promise((r) => setTimeout(r, 100));
    // Before: one change (one user read on every instance) per name ever tried, for good.
    assert.deepEqual(seen, ["node1"]);
    unwatch();
  } finally {
    await store.close();
    await pg.close();
  }
});

Deno.test("pg auth store with Postgres stopped: calls fail as 'auth store unavailable' (a 503), a query's own error stays one", async () => {
  // Before, ECONNREFUSED went out as it was: every admin call and uncached login a 500.
  const pg = await startTestPostgres();
  const sql = postgres(pg.url, { max: 2, onnotice: () => {}, connect_timeout: 2 });
  const logged: string[] = [];
  const store = withStorageFailures(createPgAuthStore(sql), (line) => logged.push(line), postgresUnavailable);
  const user = (name: string) => ({
    name,
    passwordHash: "hash",
    active: true,
    createdAt: new Date().toISOString(),
    tokenEpoch: "e1",
  });
  try {
    await migrate(pg.sql);
    assert.equal(await store.createUser(user("before")), "created");
    await pg.stop();
    await assert.rejects(store.createUser(user("during")), StoreUnavailableError);
    await assert.rejects(store.listUsers(), StoreUnavailableError);
    assert.equal(logged.length, 2, logged.join("\n"));
    await pg.start();
    assert.deepEqual((await store.listUsers()).map((u) => u.name), ["before"]);
    // Not a connection failure: passed on as it is.
    await assert.rejects(
      store.createUser({ ...user("bad"), createdAt: "not a time" }),
      (err: Error) => !(err instanceof StoreUnavailableError),
    );
  } finally {
    await store.close();
    await sql.end({ timeout: 1 });
    await pg.close();
  }
});
