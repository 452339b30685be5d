import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AppEnv } from "../http/app_env.ts";
import { handleError } from "../http/errors.ts";
import { reportMessage } from "../tests/support/fixtures.ts";
import { createWebReceiver, webReceiverType } from "./receiver.ts";

/** A web receiver with no Postgres and no map, at the read API rate given. */
function memoryWebReceiver(rateLimit: { perSecond: number; burst: number }, now?: () => number) {
  const options = webReceiverType.options.parse({ persistBlocks: false, map: false, rateLimit });
  return createWebReceiver("web", options, {
    postgres: () => Promise.reject(new Error("no Postgres here")),
    now,
  });
}

Deno.test("/v1/propagation: one answer, every node in it, is given again for a second (15 MB and 70 ms to make at 50,000 nodes)", async () => {
  let now = 1_700_000_000_000;
  const web = await memoryWebReceiver({ perSecond: 1000, burst: 1000 }, () => now);
  try {
    const block = (agentId: string, at: number) =>
      reportMessage(agentId, { type: "block", body: { number: 7, hash: "0x7", parentHash: "0x6" } }, {
        receivedAt: at,
      });
    await web.receive([block("first", now), block("second", now + 300)]);
    const get = async () => {
      const res = await web.routes.app.request("/v1/propagation");
      assert.equal(res.status, 200);
      return await res.json() as { now: string; nodes: Array<{ id: string }> };
    };
    const first = await get();
    assert.deepEqual(first.nodes.map((n) => n.id).sort(), ["first", "second"]);
    await web.receive([block("third", now + 900)]);
    now += 999;
    assert.deepEqual(await get(), first, "given again within the second");
    now += 1;
    const fresh = await get();
    assert.notEqual(fresh.now, first.now);
    assert.deepEqual(fresh.nodes.map((n) => n.id).sort(), ["first", "second", "third"]);
  } finally {
    await web.close();
  }
});

Deno.test("read API: a large answer costs its address more than one request's token (256 KiB each): its next request waits", async () => {
  const web = await memoryWebReceiver({ perSecond: 1, burst: 5 });
  try {
    const long = "x".repeat(256);
    const info = Object.fromEntries(
      ["name", "contact", "coinbase", "node", "net", "protocol", "api", "os", "os_v", "client"].map((
        k,
      ) => [k, long]),
    );
    await web.receive(
      Array.from(
        { length: 500 },
        (_, i) => reportMessage(`node-${i}-${long.slice(0, 200)}`, { type: "information", body: info }),
      ),
    );
    const app = new Hono<AppEnv>().route("/", web.routes.app).onError(handleError); // as the service mounts it
    const from = { remoteAddr: { transport: "tcp" as const, hostname: "198.51.100.7", port: 1 } };
    const page = await app.request("/v1/nodes?limit=1000", {}, from);
    assert.equal(page.status, 200);
    const bytes = (await page.arrayBuffer()).byteLength;
    assert.ok(bytes > 5 * 256 * 1024, `${bytes} bytes`);
    // Four tokens were left, the answer took them all: the next request from there waits.
    const next = await app.request("/v1/nodes?limit=1", {}, from);
    assert.equal(next.status, 429);
    assert.equal((await next.json()).error, "rate_limited");
    // Small answers cost one token each, and other addresses are not charged.
    const other = { remoteAddr: { transport: "tcp" as const, hostname: "198.51.100.8", port: 1 } };
    for (let i = 0; i < 5; i++) {
      const res = await app.request("/v1/nodes?limit=1", {}, other);
      assert.equal(res.status, 200, `small ${i}`);
      await res.body?.cancel();
    }
  } finally {
    await web.close();
  }
});
