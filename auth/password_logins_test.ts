import assert from "node:assert/strict";
import { createKvAuthStore } from "./kv_store.ts";
import { createPasswordLogins } from "./password_logins.ts";
import { hashPassword } from "./password.ts";
import type { StoredUser } from "./store.ts";

Deno.test("password logins: scrypt once per verified password, shared by simultaneous logins; a change of the user is the latest word", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const store = createKvAuthStore(kv);
    const user: StoredUser = {
      name: "agent",
      passwordHash: await hashPassword("right-password"),
      active: true,
      createdAt: new Date(0).toISOString(),
      tokenEpoch: "e1",
    };
    await store.createUser(user);
    const memory = new Map<string, StoredUser>([["agent", user]]);
    const logins = createPasswordLogins(store, {
      latest: (name) => memory.get(name),
      remember: (u) => memory.set(u.name, u),
    }, 100);

    // Three at once: one scrypt, the others wait for it.
    const outcomes = await Promise.all([1, 2, 3].map(() => logins.check("agent", "right-password")));
    assert.deepEqual(outcomes, ["ok", "ok", "ok"]);
    assert.deepEqual(logins.stats, { cached: 0, scrypt: 1, shared: 2 });
    assert.equal(await logins.check("agent", "right-password"), "ok");
    assert.equal(logins.stats.cached, 1);
    assert.equal(await logins.check("agent", "wrong-password"), "wrong");
    assert.equal(await logins.check("nobody", "right-password"), "wrong");
    assert.equal(await logins.check("../x", "right-password"), "wrong"); // not a user name: the store is not asked

    // Deactivated in memory: the remembered password no longer answers "ok".
    memory.set("agent", { ...user, active: false });
    logins.changed("agent");
    await store.setActive("agent", false);
    const before = { ...logins.stats };
    assert.equal(await logins.check("agent", "right-password"), "inactive");
    // An agent that keeps logging in is refused from memory: one scrypt, not one per attempt.
    for (let i = 0; i < 3; i++) assert.equal(await logins.check("agent", "right-password"), "inactive");
    assert.deepEqual(logins.stats, { ...before, scrypt: before.scrypt + 1, cached: before.cached + 3 });
    assert.equal(await logins.check("agent", "wrong-password"), "wrong"); // never from memory
    assert.equal(logins.stats.scrypt, before.scrypt + 2);
    // Active again (a change of the user): verified afresh, then "ok" from memory.
    memory.set("agent", user);
    logins.changed("agent");
    await store.setActive("agent", true);
    assert.equal(await logins.check("agent", "right-password"), "ok");
    assert.equal(logins.stats.scrypt, before.scrypt + 3);
    assert.equal(await logins.check("agent", "right-password"), "ok");
    assert.equal(logins.stats.scrypt, before.scrypt + 3);
    // Deactivated in memory without a change told (the store's watch is late): the remembered
    // password answers what memory says now.
    memory.set("agent", { ...user, active: false });
    assert.equal(await logins.check("agent", "right-password"), "inactive");
    memory.set("agent", user);
    logins.changed("agent");

    // A ban while scrypt runs for a login that read the user active: memory wins.
    await store.setActive("agent", true);
    memory.set("agent", user);
    const racing = logins.check("agent", "right-password");
    assert.equal(logins.running(), 1);
    memory.set("agent", { ...user, active: false });
    logins.changed("agent");
    assert.equal(await racing, "inactive");
    // Nothing is kept per name once no login of it runs: changes of names nobody is logging in
    // as (an admin's 404s) were kept for good, ~120 bytes each.
    assert.equal(logins.running(), 0);
    for (let i = 0; i < 1000; i++) logins.changed(`deleted-${i}`);
    assert.equal(logins.running(), 0);
  } finally {
    kv.close();
  }
});
