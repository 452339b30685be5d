/**
 * The JetStream deliveries one durable receiver holds (cluster/jetstream_queue.ts), each acked
 * once everything it carries was written. A report can be carried by several stream messages
 * (in a batch and in its outbox resend: both stored when the batch's ack was only late): each
 * of them is acked with the report's one write. A redelivery of the same stream message replaces
 * the older delivery, and counts afresh what it waits for.
 */

/** What of a JetStream delivery (`JsMsg`) the bookkeeping uses. */
export interface Delivery {
  /** The stream sequence: a redelivery has its message's. */
  readonly seq: number;
  ack(): void;
}

export interface DeliveryAcks<D extends Delivery> {
  /** Whether message `id` is queued here already (then it is not pushed again). */
  has(id: string): boolean;
  /**
   * `d` waits for message `id` to be written; false when it does already (an id twice in one
   * stream message counts once).
   */
  waitFor(id: string, d: D): boolean;
  /** `d` waits for the inactive event of `agentId` (they are written in order). */
  waitForInactive(agentId: string, d: D): void;
  /** `d` waits for `count` writes in all (1 needs no call). */
  expect(d: D, count: number): void;
  /** `d` is given back to JetStream (nak): it waits for nothing of `ids` any more. */
  forget(d: D, ids: Iterable<string>): void;
  /** Message `id` was written: the deliveries that waited only for it are acked. */
  written(id: string): void;
  /** The oldest inactive event of `agentId` was written. */
  inactiveWritten(agentId: string): void;
  /** Every delivery held (kept alive with `working()`, or given back at shutdown). */
  held(): Set<D>;
  clear(): void;
}

export function createDeliveryAcks<D extends Delivery>(): DeliveryAcks<D> {
  /** Message id → the deliveries to ack once it is written (one per stream message). */
  const pending = new Map<string, D[]>();
  /** Deliveries waiting for several writes: how many are still to come. */
  const remaining = new Map<D, number>();
  /** Agent id → deliveries of its inactive events, in order. */
  const inactive = new Map<string, D[]>();

  function settle(d: D): void {
    const left = (remaining.get(d) ?? 1) - 1;
    if (left > 0) {
      remaining.set(d, left);
      return;
    }
    remaining.delete(d);
    d.ack();
  }

  return {
    has: (id) => pending.has(id),
    waitFor(id, d) {
      const list = pending.get(id);
      if (list === undefined) {
        pending.set(id, [d]);
        return true;
      }
      const same = list.findIndex((other) => other.seq === d.seq);
      if (same === -1) list.push(d);
      else if (list[same] === d) return false;
      else {
        // A redelivery: the newest delivery is the one to ack (the older one's count would
        // never reach zero).
        remaining.delete(list[same]!);
        list[same] = d;
      }
      return true;
    },
    waitForInactive(agentId, d) {
      const list = inactive.get(agentId);
      if (list) list.push(d);
      else inactive.set(agentId, [d]);
    },
    expect(d, count) {
      if (count > 1) remaining.set(d, count);
    },
    forget(d, ids) {
      for (const id of ids) {
        const list = pending.get(id)?.filter((other) => other !== d);
        if (list?.length) pending.set(id, list);
        else pending.delete(id);
      }
      remaining.delete(d);
    },
    written(id) {
      const waiting = pending.get(id);
      if (!waiting) return;
      pending.delete(id);
      for (const d of waiting) settle(d);
    },
    inactiveWritten(agentId) {
      const list = inactive.get(agentId);
      const d = list?.shift();
      if (list && list.length === 0) inactive.delete(agentId);
      if (d) settle(d);
    },
    held() {
      const all = new Set<D>();
      for (const list of pending.values()) for (const d of list) all.add(d);
      for (const list of inactive.values()) for (const d of list) all.add(d);
      return all;
    },
    clear() {
      pending.clear();
      remaining.clear();
      inactive.clear();
    },
  };
}
