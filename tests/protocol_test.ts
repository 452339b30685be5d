/** The protocol API (/ping, /data, /bye): status codes, bad input, routing to receivers. */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import {
  ADMIN,
  adminAuth,
  basic,
  ENCODINGS,
  type Harness,
  userWithToken,
  waitFor,
  withBody,
  withHarness,
} from "./support/harness.ts";
import { pending } from "./support/fixtures.ts";

function post(h: Harness, path: string, token: string, enc: "json" | "msgpack", body: unknown) {
  return h.app.request(path, withBody(enc, body, { headers: { authorization: `Bearer ${token}` } }));
}

async function expectError(res: Response, status: number, code?: string): Promise<void> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error, "string");
  assert.equal(typeof body.message, "string");
  if (code) assert.equal(body.error, code);
}

for (const enc of ENCODINGS) {
  Deno.test(`[${enc}] /ping, /data and /bye answer 200 {"result":"success"} and /data publishes a Message`, () =>
    withHarness(async (h) => {
      const { token } = await userWithToken(h);
      for (
        const [path, body] of [
          ["/ping", { id: "a1", "agent-id": "ignored" }],
          ["/data", { id: "a1", type: "ethereum_metrics", data: { type: "pending", body: { pending: 3 } } }],
          ["/bye", { id: "a1" }],
        ] as const
      ) {
        const res = await post(h, path, token, enc, body);
        assert.equal(res.status, 200, path);
        assert.deepEqual(await res.json(), { result: "success" });
      }
      await waitFor(() => h.recorder.messages.length === 1 && h.recorder.inactiveAgents.length === 1);
      const m = h.recorder.messages[0]!;
      assert.equal(m.agentId, "a1");
      assert.equal(m.dataType, "ethereum_metrics");
      assert.equal(m.messageType, "data");
      assert.deepEqual(m.data, { type: "pending", body: { pending: 3 } });
      assert.ok(Math.abs(m.receivedAt - Date.now()) < 5000);
      assert.deepEqual(h.recorder.inactiveAgents, ["a1"]);
    }));

  Deno.test(`[${enc}] agents reporting one block share its body; a differing body stays its own`, () =>
    withHarness(async (h) => {
      const { token } = await userWithToken(h);
      const block = { number: 5, hash: "0x05", transactions: [{ hash: "0xaa" }], uncles: [] };
      const reports = [
        ["b1", block],
        ["b2", structuredClone(block)],
        ["b3", { ...block, transactions: [] }],
      ] as const;
      for (const [id, body] of reports) {
        const data = { type: "block", body };
        const res = await post(h, "/data", token, enc, { id, type: "ethereum_metrics", data });
        assert.equal(res.status, 200);
        await waitFor(() => h.recorder.messages.some((m) => m.agentId === id));
      }
      const [b1, b2, b3] = h.recorder.messages.map((m) => m.data);
      assert.deepEqual(b1, { type: "block", body: block });
      assert.equal(b2!["body"], b1!["body"]);
      assert.notEqual(b3!["body"], b1!["body"]);
      assert.deepEqual(b3!["body"], { ...block, transactions: [] });
      assert.deepEqual(h.blocks.stats(), { shared: 1, kept: 1 });
    }));

  Deno.test(`[${enc}] protocol bodies without id, with a bad type or non-object data are 422`, () =>
    withHarness(async (h) => {
      const { token } = await userWithToken(h);
      const bad: Array<[string, unknown]> = [
        ["/ping", {}],
        ["/ping", { id: 12 }],
        ["/ping", { id: "" }],
        ["/ping", { id: "x".repeat(100_000) }],
        ["/bye", { id: null }],
        ["/data", { id: "a", data: {} }],
        ["/data", { id: "a", type: "nope_metrics", data: {} }],
        ["/data", { id: "a", type: "__proto__", data: {} }],
        ["/data", { id: "a", type: "constructor", data: {} }],
        ["/data", { id: "a", type: "toString", data: {} }],
        ["/data", { id: "a", type: 7, data: {} }],
        ["/data", { id: "a", type: "ethereum_metrics", data: "str" }],
        ["/data", { id: "a", type: "ethereum_metrics", data: [1, 2] }],
        ["/data", { id: "a", type: "ethereum_metrics" }],
        ["/data", { id: ["a"], type: "ethereum_metrics", data: {} }],
        ["/data", { id: "a\u0000b", type: "ethereum_metrics", data: {} }], // Postgres text has no NUL
        ["/ping", { id: "line\nbreak" }],
        ["/ping", { id: "next\u0085line" }], // C1 controls too
        // Lone surrogates: "\ud800" and "\udbff" were two nodes in memory and one in Postgres (U+FFFD).
        ...(enc === "json"
          ? [["/ping", { id: "a\ud800" }], ["/data", {
            id: "\udbff",
            type: "ethereum_metrics",
            data: {},
          }]]
          : []) as Array<[string, unknown]>,
      ];
      for (const [path, body] of bad) await expectError(await post(h, path, token, enc, body), 422);
      let deep: unknown = {};
      for (let i = 0; i < 10_000; i++) deep = { a: deep };
      const deepBody = enc === "json"
        ? JSON.stringify({ id: "a", type: "ethereum_metrics", data: deep })
        : encode({ id: "a", type: "ethereum_metrics", data: { b: 1 } });
      if (enc === "json") {
        const res = await h.app.request("/data", {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: deepBody,
        });
        await expectError(res, 422, "too_deep");
      }
      assert.equal(h.recorder.messages.length, 0);
    }));
}

Deno.test("protocol routes need a JSON/msgpack content type: 415 even for an empty body", () =>
  withHarness(async (h) => {
    const { token } = await userWithToken(h);
    for (const path of ["/ping", "/data", "/bye"]) {
      await expectError(
        await h.app.request(path, { method: "POST", headers: { authorization: `Bearer ${token}` } }),
        415,
      );
      await expectError(
        await h.app.request(path, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "text/plain" },
          body: "{}",
        }),
        415,
      );
      // A compressed body is not read as it is (before: gzip bytes were a 400, plain JSON labelled gzip a 200).
      for (const coding of ["gzip", "br", "deflate, gzip"]) {
        await expectError(
          await h.app.request(path, {
            method: "POST",
            headers: {
              authorization: `Bearer ${token}`,
              "content-type": "application/json",
              "content-encoding": coding,
            },
            body: JSON.stringify({ id: "a" }),
          }),
          415,
        );
      }
    }
    const identity = await h.app.request("/ping", {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        "content-encoding": "identity",
      },
      body: JSON.stringify({ id: "a" }),
    });
    assert.equal(identity.status, 200);
  }));

Deno.test("protocol routes without a valid bearer token are 401", () =>
  withHarness(async (h) => {
    const { token, user, password } = await userWithToken(h);
    const headers = [
      "",
      "Bearer",
      "Bearer not-a-jwt",
      "Basic " + btoa(`${user}:${password}`),
      `Bearer ${token}x`,
      "Bearer " + "a".repeat(10_000),
    ];
    for (const authorization of headers) {
      const res = await h.app.request(
        "/ping",
        withBody("json", { id: "a" }, { headers: authorization ? { authorization } : {} }),
      );
      await expectError(res, 401, "unauthorized");
    }
  }));

/** The four ways an admin ends a user's tokens: ban the token, ban the user, deactivate it, delete it. */
function revocations(h: Harness): Array<(user: string, token: string) => Promise<Response>> {
  const admin = { authorization: basic(ADMIN.name, ADMIN.password) };
  return [
    async (_u, token) =>
      await h.app.request("/blacklist/token", withBody("json", { token }, { headers: admin })),
    async (user) => await h.app.request("/blacklist/user", withBody("json", { user }, { headers: admin })),
    async (user) =>
      await h.app.request(
        `/user/${user}`,
        withBody("json", { active: false }, { method: "PATCH", headers: admin }),
      ),
    async (user) => await h.app.request(`/user/${user}`, { method: "DELETE", headers: admin }),
  ];
}

Deno.test("banning the token, banning the user, deactivating or deleting the user stops the token at once", () =>
  withHarness(async (h) => {
    for (const step of revocations(h)) {
      const { user, token } = await userWithToken(h);
      assert.equal((await post(h, "/ping", token, "json", { id: "a" })).status, 200);
      const res = await step(user, token);
      assert.ok(res.status === 200 || res.status === 204, String(res.status));
      await res.body?.cancel();
      await expectError(await post(h, "/ping", token, "json", { id: "a" }), 401);
    }
  }));

Deno.test("a report whose body was still coming when its user was banned, deactivated or deleted is 401, not stored", () =>
  withHarness(async (h) => {
    for (const [i, revoke] of revocations(h).entries()) {
      const { user, token } = await userWithToken(h);
      const id = `slow-${i}`;
      const body = new TextEncoder().encode(JSON.stringify({ id, type: "ethereum_metrics", data: pending }));
      let finish = () => {};
      const rest = new Promise<void>((resolve) => finish = resolve);
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(body.subarray(0, 5)); // the token is checked; the body is not all here
          await rest;
          controller.enqueue(body.subarray(5));
          controller.close();
        },
      });
      const answer = h.app.request("/data", {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": String(body.length),
        },
        body: stream,
      });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const revoked = await revoke(user, token);
      assert.ok(revoked.status === 200 || revoked.status === 204, String(revoked.status));
      await revoked.body?.cancel();
      finish();
      await expectError(await answer, 401);
    }
    // A user left alone still reports; by the time its report is in, none of the refused ones is.
    const { token } = await userWithToken(h);
    const res = await post(h, "/data", token, "json", {
      id: "kept",
      type: "ethereum_metrics",
      data: pending,
    });
    assert.equal(res.status, 200);
    await waitFor(() => h.recorder.messages.some((m) => m.agentId === "kept"));
    assert.deepEqual(h.recorder.messages.map((m) => m.agentId), ["kept"]);
  }));

Deno.test("bodies above the limit are 413, declared or streamed", () =>
  withHarness(async (h) => {
    const { token } = await userWithToken(h);
    const big = JSON.stringify({ id: "a", type: "ethereum_metrics", data: { x: "y".repeat(2000) } });
    await expectError(
      await h.app.request("/data", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: big,
      }),
      413,
      "payload_too_large",
    );
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 10; i++) controller.enqueue(new TextEncoder().encode("x".repeat(500)));
        controller.close();
      },
    });
    await expectError(
      await h.app.request("/data", {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: stream,
      }),
      413,
    );
  }, { bodyLimitBytes: 1024 }));

Deno.test("an agent that stops pinging is reported inactive once", () =>
  withHarness(async (h) => {
    const { token } = await userWithToken(h);
    assert.equal((await post(h, "/ping", token, "json", { id: "sleepy" })).status, 200);
    await waitFor(() => h.recorder.inactiveAgents.length === 1, 3000, "inactive");
    assert.deepEqual(h.recorder.inactiveAgents, ["sleepy"]);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(h.recorder.inactiveAgents, ["sleepy"], "reported once");
  }, { inactivityTimeoutMs: 200 }));

Deno.test("an agent that only sends /data is active while it reports and inactive once it stops, also after a /bye", () =>
  withHarness(async (h) => {
    const { token } = await userWithToken(h);
    const report = {
      id: "reporter",
      type: "ethereum_metrics",
      data: { type: "pending", body: { pending: 1 } },
    };
    assert.equal((await post(h, "/data", token, "json", report)).status, 200);
    await waitFor(() => h.recorder.inactiveAgents.length === 1, 3000, "inactive");
    assert.deepEqual(h.recorder.inactiveAgents, ["reporter"]);
    // It comes back with a report (not a ping), then says bye, then reports again.
    assert.equal((await post(h, "/data", token, "json", report)).status, 200);
    assert.equal((await post(h, "/bye", token, "json", { id: "reporter" })).status, 200);
    assert.equal((await post(h, "/data", token, "json", report)).status, 200);
    await waitFor(() => h.recorder.inactiveAgents.length === 3, 3000, "inactive after the last report");
    assert.deepEqual(h.recorder.inactiveAgents, ["reporter", "reporter", "reporter"]);
  }, { inactivityTimeoutMs: 200 }));

Deno.test("/data with an Idempotency-Key: a resend keeps the Message id (per user); a malformed key is 422", () =>
  withHarness(async (h) => {
    const one = await userWithToken(h);
    const two = await userWithToken(h);
    const body = { id: "k1", type: "ethereum_metrics", data: { type: "pending", body: { pending: 1 } } };
    const send = (token: string, key?: string) =>
      h.app.request(
        "/data",
        withBody("json", body, {
          headers: {
            authorization: `Bearer ${token}`,
            ...(key === undefined ? {} : { "idempotency-key": key }),
          },
        }),
      );
    for (
      const [token, key] of [[one.token, "r-1"], [one.token, "r-1"], [two.token, "r-1"], [
        one.token,
        undefined,
      ]]
    ) {
      const res = await send(token!, key);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    // The same key from another agent of the user, or for another metric type: another report.
    for (const other of [{ ...body, id: "k2" }, { ...body, type: "networking_metrics" }]) {
      const res = await h.app.request(
        "/data",
        withBody("json", other, {
          headers: { authorization: `Bearer ${one.token}`, "idempotency-key": "r-1" },
        }),
      );
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    await waitFor(() => h.recorder.messages.length === 6);
    const [first, resend, otherUser, unkeyed, otherAgent, otherType] = h.recorder.messages;
    assert.equal(new Set([first!.id, otherAgent!.id, otherType!.id]).size, 3);
    assert.equal(resend!.id, first!.id);
    assert.equal(first!.idempotent, true);
    assert.match(first!.id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(otherUser!.id, first!.id);
    assert.notEqual(unkeyed!.id, first!.id);
    assert.equal(unkeyed!.idempotent, undefined);
    for (const bad of ["", "has space", "x".repeat(201), "é"]) {
      await expectError(await send(one.token, bad), 422, "invalid_idempotency_key");
    }
    // The content type and the token come first, as on every route (a bad key was 422 before both).
    const noType = await h.app.request("/data", {
      method: "POST",
      headers: { authorization: `Bearer ${one.token}`, "idempotency-key": "has space" },
    });
    await expectError(noType, 415, "unsupported_media_type");
    const noToken = await h.app.request(
      "/data",
      withBody("json", body, { headers: { "idempotency-key": "has space" } }),
    );
    await expectError(noToken, 401, "unauthorized");
  }));

Deno.test("a user reports under at most agentIds.maxPerUser agent ids: a new one past it is 429 agent_id_limit, not published", () =>
  withHarness(async (h) => {
    const alice = await userWithToken(h);
    const bob = await userWithToken(h);
    const report = (id: string) => ({
      id,
      type: "ethereum_metrics",
      data: { type: "pending", body: { pending: 1 } },
    });
    assert.equal((await post(h, "/data", alice.token, "json", report("a1"))).status, 200);
    assert.equal((await post(h, "/ping", alice.token, "msgpack", { id: "a2" })).status, 200);
    for (
      const [path, body] of [["/data", report("a3")], ["/ping", { id: "a3" }], ["/bye", {
        id: "a3",
      }]] as const
    ) {
      const res = await post(h, path, alice.token, "json", body);
      // Until a1, the user's least recently used id, is forgotten: 7 days after its report above.
      const retryAfter = Number(res.headers.get("retry-after"));
      assert.ok(
        retryAfter > 7 * 86_400 - 60 && retryAfter <= 7 * 86_400,
        `${path}: Retry-After ${retryAfter}`,
      );
      await expectError(res, 429, "agent_id_limit");
    }
    // The ids it holds still report; another user has its own ids (and may use the same names).
    for (const id of ["a1", "a2"]) {
      assert.equal((await post(h, "/data", alice.token, "json", report(id))).status, 200);
    }
    assert.equal((await post(h, "/bye", alice.token, "json", { id: "a1" })).status, 200);
    assert.equal((await post(h, "/data", bob.token, "json", report("a3"))).status, 200);
    assert.equal((await post(h, "/data", bob.token, "json", report("a1"))).status, 200);
    await waitFor(() => h.recorder.messages.length === 5, 3000, "the accepted reports");
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(h.recorder.messages.map((m) => m.agentId), ["a1", "a1", "a2", "a3", "a1"]);
    // A /bye frees no place (it would let a user cycle through made-up ids).
    await expectError(await post(h, "/ping", alice.token, "json", { id: "a4" }), 429, "agent_id_limit");
    const metrics = await (await h.app.request("/metrics")).text();
    assert.match(metrics, /^poa_agent_ids\{stat="ids"\} 4$/m);
    assert.match(metrics, /^poa_agent_ids_refused_total 4$/m);
  }, { maxAgentIdsPerUser: 2 }));

Deno.test("a report refused for its Idempotency-Key takes no agent-id place", () =>
  withHarness(async (h) => {
    const alice = await userWithToken(h);
    const report = { type: "ethereum_metrics", data: { type: "pending", body: { pending: 1 } } };
    for (const id of ["made-up-1", "made-up-2"]) {
      const res = await h.app.request(
        "/data",
        withBody("json", { id, ...report }, {
          headers: { authorization: `Bearer ${alice.token}`, "idempotency-key": "has space" },
        }),
      );
      await expectError(res, 422, "invalid_idempotency_key");
    }
    assert.equal((await post(h, "/data", alice.token, "json", { id: "real-node", ...report })).status, 200);
  }, { maxAgentIdsPerUser: 1 }));

Deno.test("a deleted user's agent ids are forgotten: re-created under its name, it starts with none", () =>
  withHarness(async (h) => {
    const alice = await userWithToken(h);
    const report = (id: string) => ({
      id,
      type: "ethereum_metrics",
      data: { type: "pending", body: { pending: 1 } },
    });
    for (const id of ["a1", "a2"]) {
      assert.equal((await post(h, "/data", alice.token, "json", report(id))).status, 200);
    }
    await expectError(await post(h, "/data", alice.token, "json", report("a3")), 429, "agent_id_limit");
    const deleted = await h.app.request(`/user/${alice.user}`, { method: "DELETE", headers: adminAuth });
    assert.equal(deleted.status, 204);
    assert.match(await (await h.app.request("/metrics")).text(), /^poa_agent_ids\{stat="ids"\} 0$/m);
    const created = await h.app.request(
      "/user",
      withBody("json", { "user-name": alice.user, password: alice.password }, { headers: adminAuth }),
    );
    assert.equal(created.status, 200);
    const session = await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic(alice.user, alice.password) },
    });
    const { token } = await session.json();
    for (const id of ["a3", "a4"]) {
      assert.equal((await post(h, "/data", token, "json", report(id))).status, 200);
    }
  }, { maxAgentIdsPerUser: 2 }));
