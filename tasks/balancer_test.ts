import assert from "node:assert/strict";
import { startBalancer } from "./balancer.ts";

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

Deno.test("balancer: connections go round-robin, and an upstream that refuses is skipped", async () => {
  const servers = ["a", "b"].map((name) => {
    const controller = new AbortController();
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen: () => {} },
      () => new Response(name),
    );
    return { server, controller, port: (server.addr as Deno.NetAddr).port };
  });
  const dead = freePort();
  const balancer = startBalancer({
    upstreams: [...servers.map((s) => ({ hostname: "127.0.0.1", port: s.port })), {
      hostname: "127.0.0.1",
      port: dead,
    }],
  });
  try {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) {
      // A fresh connection per request: the balancer picks per connection.
      using client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
      const res = await fetch(`http://127.0.0.1:${balancer.port}/`, { client });
      seen.push(await res.text());
    }
    assert.deepEqual(seen.filter((s) => s === "a").length, 3);
    assert.deepEqual(seen.filter((s) => s === "b").length, 3);
    assert.equal(balancer.stats()[`127.0.0.1:${dead}`], undefined);
  } finally {
    await balancer.close();
    for (const s of servers) {
      s.controller.abort();
      await s.server.finished;
    }
  }
});
