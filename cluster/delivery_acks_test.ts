import assert from "node:assert/strict";
import { createDeliveryAcks, type Delivery } from "./delivery_acks.ts";

function delivery(seq: number): Delivery & { acks: number } {
  const d = {
    seq,
    acks: 0,
    ack() {
      d.acks++;
    },
  };
  return d;
}

Deno.test("delivery acks: a batch and the resends of its reports (three stream messages) are all acked by the reports' writes", () => {
  const acks = createDeliveryAcks<ReturnType<typeof delivery>>();
  const batch = delivery(1); // [X, Y]: its publish ack came late, so both went to the outbox too
  assert.equal(acks.waitFor("X", batch), true);
  assert.equal(acks.waitFor("Y", batch), true);
  acks.expect(batch, 2);
  const x = delivery(2);
  const y = delivery(3);
  assert.ok(acks.has("X") && acks.has("Y")); // still queued: not pushed again
  assert.equal(acks.waitFor("X", x), true);
  assert.equal(acks.waitFor("Y", y), true);
  acks.written("X");
  assert.deepEqual([batch.acks, x.acks, y.acks], [0, 1, 0]);
  acks.written("Y");
  // Before: the resends took the ids over, and the batch was never acked (held, then redelivered).
  assert.deepEqual([batch.acks, x.acks, y.acks], [1, 1, 1]);
  assert.equal(acks.held().size, 0);
});

Deno.test("delivery acks: a redelivery replaces the older delivery of the same stream message and is acked once", () => {
  const acks = createDeliveryAcks<ReturnType<typeof delivery>>();
  const first = delivery(7);
  acks.waitFor("X", first);
  acks.waitFor("Y", first);
  acks.expect(first, 2);
  const again = delivery(7); // ack_wait passed while the sink was slow
  assert.equal(acks.waitFor("X", again), true);
  assert.equal(acks.waitFor("Y", again), true);
  acks.expect(again, 2);
  assert.deepEqual([...acks.held()], [again]);
  acks.written("X");
  acks.written("Y");
  assert.deepEqual([first.acks, again.acks], [0, 1]);
  assert.equal(acks.held().size, 0);
});

Deno.test("delivery acks: an id twice in one stream message counts once; a delivery given back waits for nothing", () => {
  const acks = createDeliveryAcks<ReturnType<typeof delivery>>();
  const d = delivery(1);
  assert.equal(acks.waitFor("X", d), true);
  assert.equal(acks.waitFor("X", d), false);
  acks.written("X");
  assert.equal(d.acks, 1);

  const other = delivery(2);
  const given = delivery(3);
  acks.waitFor("Z", other);
  acks.waitFor("Z", given);
  acks.waitFor("W", given);
  acks.expect(given, 2);
  acks.forget(given, ["Z", "W"]); // the receiver was full: nak, JetStream sends it again later
  assert.deepEqual([...acks.held()], [other]);
  acks.written("Z");
  assert.deepEqual([other.acks, given.acks], [1, 0]);
});

Deno.test("delivery acks: inactive events are acked in order, one write each", () => {
  const acks = createDeliveryAcks<ReturnType<typeof delivery>>();
  const a = delivery(1);
  const b = delivery(2);
  acks.waitForInactive("agent", a);
  acks.waitForInactive("agent", b);
  acks.inactiveWritten("agent");
  assert.deepEqual([a.acks, b.acks], [1, 0]);
  acks.inactiveWritten("agent");
  assert.deepEqual([a.acks, b.acks], [1, 1]);
  acks.clear();
  assert.equal(acks.held().size, 0);
});
