/** The auth API table of DESIGN.md, row by row, in JSON and MessagePack. */
import assert from "node:assert/strict";
import { Hono } from "hono";
import { sign } from "hono/jwt";
import { createKvAuthStore } from "../auth/kv_store.ts";
import { createLoginLimiter } from "../auth/login_limit.ts";
import { createAuthService } from "../auth/service.ts";
import { StoreUnavailableError } from "../auth/store.ts";
import type { AppEnv } from "../http/app_env.ts";
import { handleError } from "../http/errors.ts";
import { createAuthRoutes } from "../routes/auth.ts";
import {
  ADMIN,
  adminAuth,
  basic,
  createHarness,
  ENCODINGS,
  type Harness,
  userWithToken,
  withBody,
  withHarness,
} from "./support/harness.ts";

async function errorOf(res: Response): Promise<{ error: string; message: string }> {
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = await res.json();
  assert.equal(typeof body.error, "string");
  assert.equal(typeof body.message, "string");
  return body;
}

async function ping(h: Harness, token: string): Promise<Response> {
  return await h.app.request(
    "/ping",
    withBody("json", { id: "agent" }, { headers: { authorization: `Bearer ${token}` } }),
  );
}

for (const enc of ENCODINGS) {
  Deno.test(`[${enc}] POST /session with the right password gives a JWT with sub, iat, exp, jti`, () =>
    withHarness(async (h) => {
      const { user, password } = await userWithToken(h, enc);
      const res = await h.app.request(
        "/session",
        withBody(enc, { "agent-id": "agent-1" }, { headers: { authorization: basic(user, password) } }),
      );
      assert.equal(res.status, 200);
      const { token } = await res.json();
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      assert.equal(claims.sub, user);
      assert.equal(typeof claims.jti, "string");
      assert.equal(claims.exp - claims.iat, 3600);
    }));

  Deno.test(`[${enc}] POST /session with a wrong password, an unknown or an inactive user is 401`, () =>
    withHarness(async (h) => {
      const { user, password } = await userWithToken(h, enc);
      for (const auth of [basic(user, "wrong-password"), basic("nobody", password)]) {
        const res = await h.app.request("/session", withBody(enc, {}, { headers: { authorization: auth } }));
        assert.equal(res.status, 401);
        assert.equal((await errorOf(res)).error, "unauthorized");
      }
      await h.auth.setActive(user, false);
      const res = await h.app.request(
        "/session",
        withBody(enc, {}, { headers: { authorization: basic(user, password) } }),
      );
      assert.equal(res.status, 401);
    }));

  Deno.test(`[${enc}] POST /user creates the named user and returns its credentials`, () =>
    withHarness(async (h) => {
      const res = await h.app.request(
        "/user",
        withBody(enc, { "user-name": "alice", password: "12345678" }, { headers: adminAuth }),
      );
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { "user-name": "alice", password: "12345678" });
      const login = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic("alice", "12345678") },
      });
      assert.equal(login.status, 200);
    }));

  Deno.test(`[${enc}] POST /user generates an 8-char name and a 15-char password when missing`, () =>
    withHarness(async (h) => {
      const res = await h.app.request("/user", withBody(enc, {}, { headers: adminAuth }));
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.match(body["user-name"], /^[A-Za-z0-9]{8}$/);
      assert.match(body.password, /^[A-Za-z0-9]{15}$/);
      const login = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(body["user-name"], body.password) },
      });
      assert.equal(login.status, 200);
    }));

  Deno.test(`[${enc}] POST /user with a taken name is 409, a short password 422, no admin 401`, () =>
    withHarness(async (h) => {
      const first = await h.app.request(
        "/user",
        withBody(enc, { "user-name": "bob" }, { headers: adminAuth }),
      );
      assert.equal(first.status, 200);
      const again = await h.app.request(
        "/user",
        withBody(enc, { "user-name": "bob" }, { headers: adminAuth }),
      );
      assert.equal(again.status, 409);
      assert.equal((await errorOf(again)).error, "user_exists");
      const short = await h.app.request(
        "/user",
        withBody(enc, { password: "1234567" }, { headers: adminAuth }),
      );
      assert.equal(short.status, 422);
      assert.match((await errorOf(short)).message, /password/);
      const wrongType = await h.app.request(
        "/user",
        withBody(enc, { "user-name": 42 }, { headers: adminAuth }),
      );
      assert.equal(wrongType.status, 422);
      // Names a URL cannot carry as a path segment (/user/. is /user/ to curl): was 200, then unmanageable.
      for (const name of [".", ".."]) {
        const dots = await h.app.request(
          "/user",
          withBody(enc, { "user-name": name }, { headers: adminAuth }),
        );
        assert.equal(dots.status, 422);
        assert.match((await errorOf(dots)).message, /user-name: must not be \. or \.\./);
      }
      const noAdmin = await h.app.request(
        "/user",
        withBody(enc, {}, { headers: { authorization: basic(ADMIN.name, "nope-nope") } }),
      );
      assert.equal(noAdmin.status, 401);
      const missing = await h.app.request("/user", withBody(enc, {}));
      assert.equal(missing.status, 401);
    }));

  Deno.test(`[${enc}] PATCH /user/:name sets active; 404 unknown; 422 not a boolean`, () =>
    withHarness(async (h) => {
      const { user, password, token } = await userWithToken(h, enc);
      const off = await h.app.request(
        `/user/${user}`,
        withBody(enc, { active: false }, { method: "PATCH", headers: adminAuth }),
      );
      assert.equal(off.status, 204);
      assert.equal((await ping(h, token)).status, 401);
      const on = await h.app.request(
        `/user/${user}`,
        withBody(enc, { active: true }, { method: "PATCH", headers: adminAuth }),
      );
      assert.equal(on.status, 204);
      // Reactivated, but its old token stays dead; a new session works.
      assert.equal((await ping(h, token)).status, 401);
      const session = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(user, password) },
      });
      assert.equal(session.status, 200);
      assert.equal((await ping(h, (await session.json()).token)).status, 200);
      const bad = await h.app.request(
        `/user/${user}`,
        withBody(enc, { active: "no" }, { method: "PATCH", headers: adminAuth }),
      );
      assert.equal(bad.status, 422);
      const unknown = await h.app.request(
        `/user/ghost`,
        withBody(enc, { active: true }, { method: "PATCH", headers: adminAuth }),
      );
      assert.equal(unknown.status, 404);
      const noAdmin = await h.app.request(
        `/user/${user}`,
        withBody(enc, { active: true }, { method: "PATCH" }),
      );
      assert.equal(noAdmin.status, 401);
    }));

  Deno.test(`[${enc}] POST /blacklist/token bans a valid token; 404 for banned, forged, expired or missing`, () =>
    withHarness(async (h) => {
      const { token } = await userWithToken(h, enc);
      const res = await h.app.request("/blacklist/token", withBody(enc, { token }, { headers: adminAuth }));
      assert.equal(res.status, 200);
      assert.equal((await ping(h, token)).status, 401);
      const again = await h.app.request("/blacklist/token", withBody(enc, { token }, { headers: adminAuth }));
      assert.equal(again.status, 404);
      const forged = await sign(
        { sub: "x", jti: "y", exp: Math.floor(Date.now() / 1000) + 60 },
        "another-secret-entirely",
      );
      for (const body of [{ token: forged }, {}, { token: 12 }, { token: "a.b.c" }]) {
        const r = await h.app.request("/blacklist/token", withBody(enc, body, { headers: adminAuth }));
        assert.equal(r.status, 404, JSON.stringify(body));
        assert.equal((await errorOf(r)).error, "token_not_found");
      }
      const noAdmin = await h.app.request("/blacklist/token", withBody(enc, { token }));
      assert.equal(noAdmin.status, 401);
    }));

  Deno.test(`[${enc}] POST /blacklist/user deactivates the user; 404 unknown or missing`, () =>
    withHarness(async (h) => {
      const { user, password, token } = await userWithToken(h, enc);
      const res = await h.app.request("/blacklist/user", withBody(enc, { user }, { headers: adminAuth }));
      assert.equal(res.status, 200);
      assert.equal((await ping(h, token)).status, 401);
      const login = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(user, password) },
      });
      assert.equal(login.status, 401);
      const list = await (await h.app.request("/user", { headers: adminAuth })).json();
      assert.equal(list.find((u: { user: string }) => u.user === user).active, false);
      for (const body of [{ user: "ghost" }, {}, { user: ["x"] }]) {
        const r = await h.app.request("/blacklist/user", withBody(enc, body, { headers: adminAuth }));
        assert.equal(r.status, 404, JSON.stringify(body));
      }
    }));
}

Deno.test("GET /user lists users with active and an ISO-8601 created_at", () =>
  withHarness(async (h) => {
    const { user } = await userWithToken(h);
    const res = await h.app.request("/user", { headers: adminAuth });
    assert.equal(res.status, 200);
    const list = await res.json();
    const entry = list.find((u: { user: string }) => u.user === user);
    assert.equal(entry.active, true);
    assert.equal(new Date(entry.created_at).toISOString(), entry.created_at);
    assert.equal((await h.app.request("/user")).status, 401);
  }));

Deno.test("DELETE /user/:name is 204, then the token stops working and the name is 404", () =>
  withHarness(async (h) => {
    const { user, token } = await userWithToken(h);
    assert.equal((await ping(h, token)).status, 200);
    const res = await h.app.request(`/user/${user}`, { method: "DELETE", headers: adminAuth });
    assert.equal(res.status, 204);
    assert.equal((await ping(h, token)).status, 401);
    const again = await h.app.request(`/user/${user}`, { method: "DELETE", headers: adminAuth });
    assert.equal(again.status, 404);
    const odd = await h.app.request(`/user/${encodeURIComponent("../é\u0000" + "x".repeat(5000))}`, {
      method: "DELETE",
      headers: adminAuth,
    });
    assert.equal(odd.status, 404);
    assert.equal((await h.app.request(`/user/${user}`, { method: "DELETE" })).status, 401);
  }));

Deno.test("an expired token is 401 token_expired (no leeway)", async () => {
  let now = Date.now();
  const h = await createHarness({ ttlSeconds: 2, now: () => now });
  try {
    const { token } = await userWithToken(h);
    assert.equal((await ping(h, token)).status, 200);
    now += 2000;
    const res = await ping(h, token);
    assert.equal(res.status, 401);
    assert.equal((await errorOf(res)).error, "token_expired");
  } finally {
    await h.close();
  }
});

Deno.test("two concurrent POST /user with the same name: exactly one 200, the other 409", () =>
  withHarness(async (h) => {
    for (let round = 0; round < 5; round++) {
      const name = "race" + round;
      const results = await Promise.all(
        [0, 1].map(() =>
          h.app.request("/user", withBody("json", { "user-name": name }, { headers: adminAuth }))
        ),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
      await Promise.all(results.map((r) => r.body?.cancel()));
    }
  }));

Deno.test("a body-carrying request with another content type is 415; undecodable bodies are 400", () =>
  withHarness(async (h) => {
    const res = await h.app.request("/user", {
      method: "POST",
      headers: { ...adminAuth, "content-type": "text/plain" },
      body: "{}",
    });
    assert.equal(res.status, 415);
    assert.equal((await errorOf(res)).error, "unsupported_media_type");
    // A route that reads no body refuses one of another type too (DELETE answered 204; GET /user
    // does the same, but fetch cannot send a GET with a body).
    await h.app.request(
      "/user",
      withBody("json", { "user-name": "gone", password: "gone-password" }, { headers: adminAuth }),
    );
    const other = await h.app.request("/user/gone", {
      method: "DELETE",
      headers: { ...adminAuth, "content-type": "text/plain", "content-length": "5" },
      body: "hello",
    });
    assert.equal(other.status, 415);
    const none = await h.app.request("/user/gone", { method: "DELETE", headers: adminAuth, body: "" });
    assert.equal(none.status, 204, "without a body (Deno.serve gives it an empty body stream)");
    const json = await h.app.request("/user", {
      method: "POST",
      headers: { ...adminAuth, "content-type": "application/json" },
      body: "{nope",
    });
    assert.equal(json.status, 400);
    const mp = await h.app.request("/user", {
      method: "POST",
      headers: { ...adminAuth, "content-type": "application/msgpack" },
      body: new Uint8Array([0xc1]),
    });
    assert.equal(mp.status, 400);
    const notMap = await h.app.request("/user", withBody("json", [1, 2], { headers: adminAuth }));
    assert.equal(notMap.status, 422);
    const mpNotMap = await h.app.request("/user", withBody("msgpack", "text", { headers: adminAuth }));
    assert.equal(mpNotMap.status, 422);
    // curl -X POST -u user:pass …/session: an empty body needs no content type.
    const { user, password } = await userWithToken(h);
    const empty = await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic(user, password) },
    });
    assert.equal(empty.status, 200);
  }));

Deno.test("malformed Authorization headers are 401 with the error shape, never 5xx", () =>
  withHarness(async (h) => {
    const junk = [
      "",
      "Basic",
      "Basic ",
      "Basic !!!notbase64",
      "Basic " + btoa("nocolon"),
      "Basic " + btoa(":password"),
      "Basic " + btoa("user:"),
      "Bearer " + btoa("user:pass"),
      "Basic " + "A".repeat(10 * 1024),
      "x".repeat(10 * 1024),
      "Basic " + btoa(String.fromCharCode(0xff, 0xfe) + ":x"),
    ];
    for (const header of junk) {
      for (const path of ["/session", "/user"]) {
        const res = await h.app.request(path, { method: "POST", headers: { authorization: header } });
        assert.equal(res.status, 401, `${path} ${header.slice(0, 40)}`);
        await errorOf(res);
      }
    }
  }));

Deno.test("after maxFailures failed logins the address and the name get 429 with Retry-After until the window passes", async () => {
  let now = Date.now();
  const h = await createHarness({ maxFailures: 3, windowSeconds: 60, now: () => now });
  try {
    const { user, password } = await userWithToken(h);
    const attempt = (u: string, p: string) =>
      h.app.request("/session", { method: "POST", headers: { authorization: basic(u, p) } });
    for (let i = 0; i < 3; i++) assert.equal((await attempt(user, "wrong-password")).status, 401);
    const locked = await attempt(user, password);
    assert.equal(locked.status, 429);
    assert.equal((await errorOf(locked)).error, "too_many_attempts");
    assert.equal(Number(locked.headers.get("retry-after")), 60);
    // Admins are counted apart, and other users at the same address are not locked out.
    assert.equal((await h.app.request("/user", { headers: adminAuth })).status, 200);
    const neighbour = await userWithToken(h);
    assert.equal((await attempt(neighbour.user, neighbour.password)).status, 200);
    now += 30_000;
    const later = await attempt(user, password);
    assert.equal(later.status, 429, "429 answers do not extend the window");
    assert.equal(Number(later.headers.get("retry-after")), 30);
    now += 30_001;
    assert.equal((await attempt(user, password)).status, 200);
  } finally {
    await h.close();
  }
});

Deno.test("an IPv6 client is counted by its /64 network: guesses from many of its addresses lock them all, not a neighbour network", async () => {
  const h = await createHarness({ maxFailures: 3, windowSeconds: 60 });
  try {
    const { user, password } = await userWithToken(h);
    const from = (hostname: string) => ({ remoteAddr: { transport: "tcp" as const, hostname, port: 40000 } });
    const attempt = (u: string, p: string, hostname: string) =>
      h.app.request("/session", { method: "POST", headers: { authorization: basic(u, p) } }, from(hostname));
    // 30 wrong logins (10 × maxFailures per address), each for another name, each from another
    // address of one /64: before, each address had an allowance of its own (2^64 of them).
    for (let i = 1; i <= 30; i++) {
      const res = await attempt(`nobody-${i}`, "guess", `2001:db8:1:2::${i.toString(16)}`);
      assert.equal(res.status, 401, `guess ${i}`);
      await res.body?.cancel();
    }
    const locked = await attempt(user, password, "2001:db8:1:2:ffff::31");
    assert.equal(locked.status, 429);
    assert.equal((await errorOf(locked)).error, "too_many_attempts");
    const neighbour = await attempt(user, password, "2001:db8:1:3::1");
    assert.equal(neighbour.status, 200, "another /64 is not locked");
    await neighbour.body?.cancel();
  } finally {
    await h.close();
  }
});

Deno.test("400 parallel wrong passwords then the right one: no more checks than the limit, then 429", async () => {
  const h = await createHarness({ maxFailures: 10, windowSeconds: 60 });
  try {
    const { user, password } = await userWithToken(h);
    const scryptBefore = h.auth.loginStats.scrypt;
    const guesses = await Promise.all(
      Array.from(
        { length: 400 },
        (_, i) =>
          h.app.request("/session", {
            method: "POST",
            headers: { authorization: basic(user, `guess-${i}`) },
          }),
      ),
    );
    const statuses = guesses.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 10);
    assert.equal(statuses.filter((s) => s === 429).length, 390);
    assert.equal(h.auth.loginStats.scrypt - scryptBefore, 10); // the rest never reached scrypt
    const right = await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic(user, password) },
    });
    assert.equal(right.status, 429);
  } finally {
    await h.close();
  }
});

Deno.test("a banned user's agent retrying with its right password is refused but never locks anything", async () => {
  const h = await createHarness({ maxFailures: 3, windowSeconds: 60 });
  try {
    const { user, password } = await userWithToken(h);
    const ban = await h.app.request("/blacklist/user", withBody("json", { user }, { headers: adminAuth }));
    assert.equal(ban.status, 200);
    for (let i = 0; i < 20; i++) {
      const res = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(user, password) },
      });
      assert.equal(res.status, 401);
    }
    assert.equal(h.limiter.failures, 0);
  } finally {
    await h.close();
  }
});

Deno.test("requests without usable credentials are 401 and lock out nobody at their address", async () => {
  const h = await createHarness({ maxFailures: 3, windowSeconds: 60 });
  try {
    const { user, password } = await userWithToken(h);
    const none: Array<Record<string, string>> = [
      {},
      { authorization: basic(user, "") }, // `curl -u user:`
      { authorization: "Basic " + "A".repeat(5000) },
      { authorization: "Basic " + btoa("\xe9t\xe9:latin-1") },
    ];
    // Before: each counted on the address alone (no name to pair it with), and after 30 of them
    // (10 × maxFailures) every user and admin behind that address got 429.
    for (let i = 0; i < 40; i++) {
      for (const headers of none) {
        for (const path of ["/session", "/user"]) {
          const res = await h.app.request(path, { method: path === "/user" ? "GET" : "POST", headers });
          assert.equal(res.status, 401);
          assert.equal(res.headers.get("www-authenticate"), 'Basic realm="poa-backend", charset="UTF-8"');
          assert.match((await errorOf(res)).message, /Basic base64\(user:password\)/);
        }
      }
    }
    assert.equal(h.limiter.failures, 0);
    const login = await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic(user, password) },
    });
    assert.equal(login.status, 200);
    assert.equal((await h.app.request("/user", { headers: adminAuth })).status, 200);
  } finally {
    await h.close();
  }
});

Deno.test("/session takes any map: agent-id is informational, whatever its type", () =>
  withHarness(async (h) => {
    const { user, password } = await userWithToken(h);
    for (
      const body of [{ "agent-id": 5 }, { "agent-id": null }, { "agent-id": "x".repeat(2000) }, {
        other: [1],
      }]
    ) {
      const res = await h.app.request(
        "/session",
        withBody("json", body, { headers: { authorization: basic(user, password) } }),
      );
      assert.equal(res.status, 200, JSON.stringify(body).slice(0, 40)); // was 422 invalid_body
    }
  }));

Deno.test("tokens never come back: not after delete + re-create (any password), not after a ban + reactivation", () =>
  withHarness(async (h) => {
    const { user, password, token } = await userWithToken(h);
    assert.equal((await ping(h, token)).status, 200);
    assert.equal(
      (await h.app.request(`/user/${user}`, { method: "DELETE", headers: adminAuth })).status,
      204,
    );
    const again = await h.app.request(
      "/user",
      withBody("json", { "user-name": user, password }, { headers: adminAuth }),
    );
    assert.equal(again.status, 200);
    assert.equal((await ping(h, token)).status, 401);

    const second = await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic(user, password) },
    });
    const token2 = (await second.json()).token;
    assert.equal((await ping(h, token2)).status, 200);
    assert.equal(
      (await h.app.request("/blacklist/user", withBody("json", { user }, { headers: adminAuth }))).status,
      200,
    );
    const on = await h.app.request(
      `/user/${user}`,
      withBody("json", { active: true }, { method: "PATCH", headers: adminAuth }),
    );
    assert.equal(on.status, 204);
    assert.equal((await ping(h, token2)).status, 401);
    assert.equal(h.auth.stats["revoked"]! >= 2, true);
  }));

Deno.test("successful logins do not count toward the limit; maxFailures 0 turns it off", async () => {
  const h = await createHarness({ maxFailures: 2, windowSeconds: 60 });
  try {
    const { user, password } = await userWithToken(h);
    for (let i = 0; i < 5; i++) {
      const ok = await h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(user, password) },
      });
      assert.equal(ok.status, 200);
    }
  } finally {
    await h.close();
  }
  const off = await createHarness({ maxFailures: 0 });
  try {
    for (let i = 0; i < 20; i++) {
      const res = await off.app.request("/session", {
        method: "POST",
        headers: { authorization: basic("x", "wrong-password") },
      });
      assert.equal(res.status, 401);
    }
  } finally {
    await off.close();
  }
});

Deno.test("GET /healthz is 200 status ok", () =>
  withHarness(async (h) => {
    const res = await h.app.request("/healthz");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
  }));

Deno.test("unknown paths are 404 with the error shape", () =>
  withHarness(async (h) => {
    const res = await h.app.request("/nope", { method: "POST" });
    assert.equal(res.status, 404);
    assert.equal((await errorOf(res)).error, "not_found");
  }));

Deno.test("a known path with another method is 405 with Allow and the error shape (was 404)", () =>
  withHarness(async (h) => {
    const cases: Array<[string, string, string]> = [
      ["GET", "/session", "POST"],
      ["DELETE", "/ping", "POST"],
      ["PUT", "/user", "GET, HEAD, POST"],
      ["POST", "/user/node1", "DELETE, PATCH"],
      ["POST", "/healthz", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await h.app.request(path, { method });
      assert.equal(res.status, 405, `${method} ${path}`);
      assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
      const body = await errorOf(res);
      assert.equal(body.error, "method_not_allowed");
      assert.match(body.message, new RegExp(`^${method} is not allowed on ${path}; use `));
    }
    assert.equal((await h.app.request("/user/a/b", { method: "POST" })).status, 404); // no such path
  }));

Deno.test("a /session whose body comes slowly, while the user is re-created with a new password or banned and reactivated, gets a dead token", () =>
  withHarness(async (h) => {
    for (const change of ["re-create", "ban and reactivate"] as const) {
      const { user, password } = await userWithToken(h, "json");
      let release = () => {};
      const gate = new Promise<void>((resolve) => release = resolve);
      const body = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode('{"agent-id":'));
          await gate; // the password is checked; the rest of the body is still on its way
          controller.enqueue(new TextEncoder().encode('"a"}'));
          controller.close();
        },
      });
      const pending = h.app.request("/session", {
        method: "POST",
        headers: { authorization: basic(user, password), "content-type": "application/json" },
        body,
      });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the login done (scrypt)
      if (change === "re-create") {
        assert.ok(await h.auth.deleteUser(user));
        assert.ok((await h.auth.createUser(user, "a-brand-new-password")).ok);
      } else {
        assert.ok(await h.auth.setActive(user, false));
        assert.ok(await h.auth.setActive(user, true));
      }
      release();
      const res = await pending;
      assert.equal(res.status, 200);
      const { token } = await res.json();
      // Before: signed with the epoch the user had by then, so the old password's holder held a live token.
      const check = await ping(h, token);
      assert.equal(check.status, 401, change);
    }
  }));

Deno.test("POST /session while the auth store is away: 503 each time, none counted as a guess; the right password works once it is back", async () => {
  const kv = await Deno.openKv(":memory:");
  const kvStore = createKvAuthStore(kv);
  let down = false;
  const auth = await createAuthService({
    store: {
      ...kvStore,
      getUser: (name) =>
        down
          ? Promise.reject(new StoreUnavailableError("the auth store did not answer getUser within 5000 ms"))
          : kvStore.getUser(name),
    },
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ttlSeconds: 3600,
    admins: [],
  });
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.route(
    "/",
    createAuthRoutes({
      auth,
      limiter: createLoginLimiter({ maxFailures: 2, windowSeconds: 60 }),
      bodyLimitBytes: 1 << 20,
    }),
  );
  try {
    assert.ok((await auth.createUser("alice", "alice-pa55word")).ok);
    const login = () =>
      app.request("/session", {
        method: "POST",
        headers: { authorization: basic("alice", "alice-pa55word") },
      });
    down = true;
    for (let i = 0; i < 3; i++) {
      const res = await login();
      assert.equal(res.status, 503);
      assert.equal((await errorOf(res)).error, "auth_store_unavailable");
    }
    down = false;
    // Before: the three checks that could not run were counted as wrong guesses: 429 for the right password.
    assert.equal((await login()).status, 200);
  } finally {
    auth.close();
    kv.close();
  }
});
