import assert from "node:assert/strict";
import { Hono } from "hono";
import { headLength } from "./head_length.ts";

Deno.test("a HEAD answer says its GET's length (was content-length: 0 once served)", async () => {
  const app = new Hono();
  app.use("*", headLength);
  app.get("/text", (c) => c.text("hello, world"));
  app.get("/error", () => Response.json({ error: "nope", message: "é" }, { status: 401 }));
  app.get("/events", (c) => c.body(null, 200, { "content-type": "text/event-stream" }));
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  try {
    for (const path of ["/text", "/error"]) {
      const get = await fetch(`http://127.0.0.1:${server.addr.port}${path}`);
      const length = (await get.arrayBuffer()).byteLength;
      const head = await fetch(`http://127.0.0.1:${server.addr.port}${path}`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.headers.get("content-length"), String(length), path);
      assert.equal(head.status, get.status);
    }
    const events = await fetch(`http://127.0.0.1:${server.addr.port}/events`, { method: "HEAD" });
    await events.body?.cancel();
    assert.equal(events.status, 200);
  } finally {
    await server.shutdown();
  }
});
