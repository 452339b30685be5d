import assert from "node:assert/strict";
import { createPgAuthStore } from "../cluster/pg_auth_store.ts";
import { migrate } from "../db/migrate.ts";
import { startTestPostgres } from "../tests/support/postgres.ts";
import { userKey } from "./kv_keys.ts";
import { createKvAuthStore } from "./kv_store.ts";
import { sign } from "hono/jwt";
import { hashPassword } from "./password.ts";
import { type AuthService, createAuthService } from "./service.ts";
import type { AuthStore } from "./store.ts";

async function withService(
  store: AuthStore,
  fn: (auth: AuthService) => Promise<void>,
): Promise<void> {
  const auth = await createAuthService({
    store,
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ttlSeconds: 3600,
    admins: [],
  });
  try {
    await fn(auth);
  } finally {
    auth.close();
  }
}

async function withKvService(fn: (auth: AuthService) => Promise<void>): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  try {
    await withService(createKvAuthStore(kv), fn);
  } finally {
    kv.close();
  }
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const name = () => "u" + crypto.randomUUID().slice(0, 8);

Deno.test("a repeated login with the right password is answered without scrypt", async () => {
  await withKvService(async (auth) => {
    const user = name();
    assert.ok((await auth.createUser(user, "pw-one")).ok);
    assert.equal(await auth.login(user, "pw-one"), "ok");
    assert.deepEqual(auth.loginStats, { cached: 0, scrypt: 1, shared: 0 });
    for (let i = 0; i < 5; i++) assert.equal(await auth.login(user, "pw-one"), "ok");
    assert.deepEqual(auth.loginStats, { cached: 5, scrypt: 1, shared: 0 });
  });
});

Deno.test("simultaneous logins with one user and password share one scrypt run; a different password does not", async () => {
  await withKvService(async (auth) => {
    const user = name();
    assert.ok((await auth.createUser(user, "pw-one")).ok);
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => auth.login(user, "pw-one")),
      ...Array.from({ length: 5 }, () => auth.login(user, "pw-wrong")),
    ]);
    assert.deepEqual(results, [...Array(20).fill("ok"), ...Array(5).fill("wrong")]);
    assert.deepEqual(auth.loginStats, { cached: 0, scrypt: 2, shared: 23 });
    // Once settled, the right password is cached and the wrong one is checked afresh.
    assert.equal(await auth.login(user, "pw-one"), "ok");
    assert.equal(await auth.login(user, "pw-wrong"), "wrong");
    assert.deepEqual(auth.loginStats, { cached: 1, scrypt: 3, shared: 23 });
  });
});

Deno.test("a wrong password is never accepted from the cache and always runs scrypt", async () => {
  await withKvService(async (auth) => {
    const user = name();
    const other = name();
    assert.ok((await auth.createUser(user, "pw-one")).ok);
    assert.ok((await auth.createUser(other, "pw-two")).ok);
    assert.equal(await auth.login(user, "pw-one"), "ok");
    assert.equal(await auth.login(other, "pw-two"), "ok");
    for (
      const [u, p] of [[user, "pw-one "], [user, "pw-on"], [user, ""], [user, "pw-two"], [other, "pw-one"]]
    ) {
      assert.equal(await auth.login(u!, p!), "wrong", `${u}:${p}`);
    }
    assert.deepEqual(auth.loginStats, { cached: 0, scrypt: 7, shared: 0 });
    // The right password still hits after the failures.
    assert.equal(await auth.login(user, "pw-one"), "ok");
    assert.equal(auth.loginStats.cached, 1);
  });
});

Deno.test("deactivating or deleting a user ends its cached login; a re-created user needs its new password", async () => {
  await withKvService(async (auth) => {
    const user = name();
    assert.ok((await auth.createUser(user, "old-pw")).ok);
    assert.equal(await auth.login(user, "old-pw"), "ok");

    assert.ok(await auth.setActive(user, false));
    assert.equal(await auth.login(user, "old-pw"), "inactive"); // refused, but not a guess
    assert.equal(await auth.login(user, "wrong-pw"), "wrong");
    assert.equal(auth.loginStats.cached, 0); // verified afresh after each change
    // Its agents logging in again and again are refused without scrypt each time.
    const scrypt = auth.loginStats.scrypt;
    for (let i = 0; i < 3; i++) assert.equal(await auth.login(user, "old-pw"), "inactive");
    assert.equal(auth.loginStats.scrypt, scrypt);
    assert.equal(auth.loginStats.cached, 3);
    assert.ok(await auth.setActive(user, true));
    assert.equal(await auth.login(user, "old-pw"), "ok");
    assert.equal(auth.loginStats.cached, 3); // verified afresh after each change

    assert.ok(await auth.deleteUser(user));
    assert.equal(await auth.login(user, "old-pw"), "wrong");
    assert.ok((await auth.createUser(user, "new-pw")).ok);
    assert.equal(await auth.login(user, "old-pw"), "wrong");
    assert.equal(await auth.login(user, "new-pw"), "ok");
    assert.equal(await auth.login(user, "new-pw"), "ok");
    assert.equal(auth.loginStats.cached, 4);
  });
});

Deno.test("a password hash or status changed in the shared store by another instance ends the cached login", async () => {
  const pg = await startTestPostgres();
  const store = createPgAuthStore(pg.sql);
  try {
    await migrate(pg.sql);
    await store.listening();
    await withService(store, async (auth) => {
      const user = name();
      assert.ok((await auth.createUser(user, "first-pw")).ok);
      assert.equal(await auth.login(user, "first-pw"), "ok");
      assert.equal(await auth.login(user, "first-pw"), "ok");
      assert.equal(auth.loginStats.cached, 1);

      // An operator (or another instance) sets a new password hash directly in the store.
      const newHash = await hashPassword("second-pw");
      await pg.sql`update poa_users set password_hash = ${newHash} where name = ${user}`;
      const scrypt = auth.loginStats.scrypt;
      // Until the store's notification arrives the old hash is what this instance knows (as for
      // deactivations); then the cached login is forgotten and the store's new hash decides.
      let oldAccepted = true;
      const deadline = Date.now() + 3000;
      while (oldAccepted && Date.now() < deadline) {
        oldAccepted = await auth.login(user, "first-pw") === "ok";
        if (oldAccepted) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(oldAccepted, false, "the old password is refused once the change arrived");
      assert.ok(auth.loginStats.scrypt > scrypt);
      assert.equal(await auth.login(user, "first-pw"), "wrong");
      assert.equal(await auth.login(user, "second-pw"), "ok");

      // Deactivated by another instance: no cached login either.
      await pg.sql`update poa_users set active = false where name = ${user}`;
      await until(() => auth.activeEpoch(user) === undefined, 3000, "deactivation arrives");
      assert.equal(await auth.login(user, "second-pw"), "inactive");
    });
  } finally {
    await store.close();
    await pg.close();
  }
});

/**
 * A KV store whose getUser answers only when `release` is called: a login that read its user
 * before an admin call has to finish its scrypt after it (the window is the wait for a slot).
 */
async function withHeldReads(
  fn: (
    auth: AuthService,
    held: { read: Promise<void>; release: () => void },
    store: AuthStore,
  ) => Promise<void>,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const store = createKvAuthStore(kv);
  let hold = false;
  let signalRead = () => {};
  let release = () => {};
  const held = {
    read: new Promise<void>((resolve) => signalRead = resolve),
    release: () => release(),
  };
  const gate = new Promise<void>((resolve) => release = resolve);
  const holding: AuthStore = {
    ...store,
    async getUser(userName) {
      const user = await store.getUser(userName);
      if (hold) {
        signalRead();
        await gate;
      }
      return user;
    },
  };
  try {
    await withService(holding, (auth) => {
      hold = true;
      return fn(auth, held, store);
    });
  } finally {
    kv.close();
  }
}

Deno.test("a ban or a deletion during a login's password check is not undone by that login", async (t) => {
  for (const action of ["ban", "delete", "re-create"] as const) {
    await t.step(action, async () => {
      await withHeldReads(async (auth, held) => {
        const user = name();
        assert.ok((await auth.createUser(user, "pw-one")).ok);
        const login = auth.login(user, "pw-one");
        await held.read; // the login has the user as it was
        if (action === "ban") assert.ok(await auth.setActive(user, false));
        else assert.ok(await auth.deleteUser(user));
        if (action === "re-create") assert.ok((await auth.createUser(user, "pw-two")).ok);
        held.release();
        assert.equal(await login, action === "ban" ? "inactive" : "wrong");
        assert.equal(auth.activeEpoch(user) !== undefined, action === "re-create");
        // Nothing of the old login stays: no login is "ok" (a banned user's right password is
        // remembered as such: "inactive" without scrypt), and a token issued now is refused.
        const again = await auth.login(user, "pw-one");
        assert.equal(again, action === "ban" ? "inactive" : "wrong");
        assert.equal(auth.loginStats.cached, action === "ban" ? 1 : 0);
        if (action === "ban") assert.equal(auth.activeEpoch(user), undefined); // no token is issued
      });
    });
  }
  await t.step("nothing changed: the login goes through as before", async () => {
    await withHeldReads(async (auth, held) => {
      const user = name();
      assert.ok((await auth.createUser(user, "pw-one")).ok);
      const login = auth.login(user, "pw-one");
      await held.read;
      held.release();
      assert.equal(await login, "ok");
      assert.equal((await auth.checkToken(await auth.issueToken(user, auth.activeEpoch(user)!))).ok, true);
    });
  });
});

Deno.test("a login with a user name no user can have (over 2 KB) is wrong, without asking the store", async () => {
  await withKvService(async (auth) => {
    for (const bad of ["u".repeat(65), "u".repeat(3000), "with space", ""]) {
      assert.equal(await auth.login(bad, "password1"), "wrong", bad.slice(0, 20));
    }
  });
});

Deno.test("a token signed with an absurd exp (1e300) can be banned, in KV and in Postgres", async () => {
  const secret = crypto.randomUUID() + crypto.randomUUID();
  const kv = await Deno.openKv(":memory:");
  const pg = await startTestPostgres();
  try {
    await migrate(pg.sql);
    for (const store of [createKvAuthStore(kv), createPgAuthStore(pg.sql)]) {
      const auth = await createAuthService({ store, secret, ttlSeconds: 3600, admins: [] });
      try {
        const user = name();
        assert.ok((await auth.createUser(user, "pw-one")).ok);
        const epoch = auth.activeEpoch(user)!;
        const token = await sign(
          { sub: user, jti: crypto.randomUUID(), exp: 1e300, ep: epoch },
          secret,
          "HS256",
        );
        assert.equal((await auth.checkToken(token)).ok, true);
        assert.equal(await auth.banToken(token), true);
        assert.deepEqual(await auth.checkToken(token), { ok: false, reason: "banned" });
        assert.equal((await store.listBans()).length, 1);
      } finally {
        auth.close();
      }
    }
  } finally {
    kv.close();
    await pg.close();
  }
});

Deno.test("a change to another user during a login's password check does not refuse it", async () => {
  await withHeldReads(async (auth, held, store) => {
    const user = name();
    const other = name();
    // Created by another instance: in the shared store, not yet in this one's memory.
    await store.createUser({
      name: user,
      passwordHash: await hashPassword("pw-one"),
      active: true,
      createdAt: new Date().toISOString(),
      tokenEpoch: crypto.randomUUID(),
    });
    assert.ok((await auth.createUser(other, "pw-two")).ok);
    const login = auth.login(user, "pw-one");
    await held.read;
    assert.ok(await auth.setActive(other, false));
    held.release();
    assert.equal(await login, "ok");
  });
});

Deno.test("users from before token epochs get one at start: their older tokens end, even after a deactivation back then", async () => {
  const secret = crypto.randomUUID() + crypto.randomUUID();
  const kv = await Deno.openKv(":memory:");
  try {
    // As a version without epochs left them: no tokenEpoch in the record, no `ep` in the token.
    const passwordHash = await hashPassword("old-password");
    await kv.set(userKey("legacy"), {
      v: 1,
      passwordHash,
      active: true,
      createdAt: "2026-11-29T00:00:00.000Z",
    });
    const old = await sign(
      { sub: "legacy", jti: crypto.randomUUID(), exp: Date.now() / 1000 + 3600 },
      secret,
      "HS256",
    );
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (line: string) => warnings.push(line);
    const auth = await createAuthService({
      store: createKvAuthStore(kv),
      secret,
      ttlSeconds: 3600,
      admins: [],
    })
      .finally(() => console.warn = warn);
    let epoch = "";
    try {
      // Before: ok (the user had been banned and reactivated, or re-created, under that version).
      assert.deepEqual(await auth.checkToken(old), { ok: false, reason: "revoked" });
      assert.match(warnings.join("\n"), /1 user\(s\) from before token epochs/);
      assert.equal(await auth.login("legacy", "old-password"), "ok"); // the password still works
      epoch = auth.activeEpoch("legacy")!;
      assert.notEqual(epoch, "");
      const fresh = await sign(
        { sub: "legacy", jti: crypto.randomUUID(), exp: Date.now() / 1000 + 3600, ep: epoch },
        secret,
        "HS256",
      );
      assert.equal((await auth.checkToken(fresh)).ok, true);
    } finally {
      auth.close();
    }
    // The next start finds the epoch and renews nothing.
    const again = await createAuthService({
      store: createKvAuthStore(kv),
      secret,
      ttlSeconds: 3600,
      admins: [],
    });
    try {
      assert.equal(again.activeEpoch("legacy"), epoch);
    } finally {
      again.close();
    }
  } finally {
    kv.close();
  }
});

Deno.test("the KV store bans a token whose exp is not a whole number of milliseconds (it threw now and then)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = createKvAuthStore(kv);
    for (const fraction of [0.0001, 0.0004, 0.123456789]) {
      const jti = crypto.randomUUID();
      await store.banToken({ jti, exp: Math.floor(Date.now() / 1000) + 60 + fraction });
      assert.ok((await store.listBans()).some((b) => b.jti === jti));
    }
  } finally {
    kv.close();
  }
});
