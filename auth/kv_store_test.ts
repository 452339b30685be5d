import assert from "node:assert/strict";
import { Hono } from "hono";
import { handleError } from "../http/errors.ts";
import { capturing } from "../tests/support/console.ts";
import { createKvAuthStore } from "./kv_store.ts";
import { StoreUnavailableError } from "./store.ts";

/** A KV whose writes fail as SQLite's do on a full disk (Deno KV throws its message as a TypeError). */
function fullDisk(kv: Deno.Kv): Deno.Kv {
  const full = () => Promise.reject(new TypeError("database or disk is full"));
  return new Proxy(kv, {
    get(target, key) {
      if (key === "set") return full;
      if (key === "atomic") {
        return () => {
          const op = target.atomic();
          const proxy: Deno.AtomicOperation = new Proxy(op, {
            get: (o, k) =>
              k === "commit" ? full : (...args: unknown[]) => {
                (Reflect.get(o, k) as (...a: unknown[]) => unknown).apply(o, args);
                return proxy;
              },
          });
          return proxy;
        };
      }
      const value = Reflect.get(target, key);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

Deno.test("a full disk under the KV store: writes fail as 'auth store unavailable' (503, Retry-After), reads work", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await createKvAuthStore(kv).createUser({
      name: "before",
      passwordHash: "h",
      active: true,
      createdAt: new Date(0).toISOString(),
      tokenEpoch: "e",
    });
    const store = createKvAuthStore(fullDisk(kv));
    const logged = await capturing("error", async (lines) => {
      const user = {
        name: "u",
        passwordHash: "h",
        active: true,
        createdAt: new Date(0).toISOString(),
        tokenEpoch: "",
      };
      const failed = await store.createUser(user).catch((err) => err);
      assert.ok(failed instanceof StoreUnavailableError, String(failed));
      assert.match(failed.message, /could not createUser: database or disk is full/);
      await assert.rejects(store.banToken({ jti: "j", exp: Date.now() / 1000 + 60 }), StoreUnavailableError);
      assert.equal((await store.getUser("before"))?.name, "before");
      return lines;
    });
    assert.equal(logged.length, 2); // one line per failed call, no stack
    assert.match(logged[0]!, /^auth store: createUser failed: database or disk is full$/);

    // As the routes answer it (http/errors.ts): before, a bare 500 "internal server error".
    const app = new Hono();
    app.onError(handleError);
    app.post("/user", async () => {
      const user = { name: "v", passwordHash: "h", active: true, createdAt: "", tokenEpoch: "" };
      throw await store.createUser(user).catch((err) => err);
    });
    const res = await app.request("/user", { method: "POST" });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "5");
    assert.equal((await res.json()).error, "auth_store_unavailable");
  } finally {
    kv.close();
  }
});
