import assert from "node:assert/strict";
import { reportMessage } from "../tests/support/fixtures.ts";
import { createWebReceiver, webReceiverType } from "./receiver.ts";

Deno.test("/v1/propagation: one answer, every node in it, is given again for a second (15 MB and 70 ms to make at 50,000 nodes)", async () => {
  let now = 1_700_000_000_000;
  const options = webReceiverType.options.parse({
    persistBlocks: false,
    map: false,
    rateLimit: { perSecond: 1000, burst: 1000 },
  });
  const web = await createWebReceiver("web", options, {
    postgres: () => Promise.reject(new Error("no Postgres here")),
    now: () => now,
  });
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
