import assert from "node:assert/strict";
import { ConfigError, defaultReceivers, parseConfig } from "../core/config.ts";
import { consumerNameClash } from "./jetstream_queue.ts";
import { openCluster } from "./runtime.ts";

Deno.test("receivers whose NATS 2.9 consumers would share a name are named", () => {
  assert.equal(consumerNameClash(defaultReceivers(parseConfig({}))), undefined);
  // Before: both types' reports went through one consumer `s__a_b`, whose filter the second rewrote.
  assert.match(
    consumerNameClash([{ id: "s", subscribe: ["a.b", "a_b"] }])!,
    /receiver s, metric type a\.b and receiver s, metric type a_b would share NATS consumer s__a_b/,
  );
  assert.match(consumerNameClash([{ id: "s", subscribe: ["inactive"] }])!, /inactive-agents consumer/);
  assert.match(
    consumerNameClash([{ id: "s", subscribe: ["x__y"] }, { id: "s__x", subscribe: ["y"] }])!,
    /consumer s__x__y/,
  );
  // The same type listed twice is one consumer; ids that are hashed clash with nothing.
  assert.equal(consumerNameClash([{ id: "s", subscribe: ["a", "a"] }]), undefined);
  assert.equal(
    consumerNameClash([{ id: "s.x", subscribe: ["y"] }, { id: "s_x", subscribe: ["y"] }]),
    undefined,
  );
});

Deno.test("a cluster config with such receivers stops start-up before NATS is dialled", async () => {
  const config = parseConfig({
    metrics: ["a.b", "a_b"],
    receivers: [{ id: "s", type: "dashboard", subscribe: ["a.b", "a_b"] }],
    // Nothing listens there: the check comes first.
    cluster: { nats: { servers: ["nats://127.0.0.1:1"] } },
  });
  await assert.rejects(openCluster(config, { log: () => {} }), ConfigError);
});
