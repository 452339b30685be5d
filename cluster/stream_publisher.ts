/**
 * Publishing reports to the JetStream stream: batched per metric type (see `createStreamPublisher`),
 * and published again from the outbox with their Message id (`republisher`).
 */
import { setImmediate } from "node:timers";
import { encode } from "@msgpack/msgpack";
import { headers } from "@nats-io/transport-node";
import type { Message } from "../core/message.ts";
import type { NatsRuntime } from "./nats.ts";

/** Reports published as one stream message at most, and batches of a type awaiting their ack. */
const MAX_PUBLISH_BATCH = 200;
const MAX_IN_FLIGHT = 2;

/** Header on a report published again from the outbox (its first copy may be in the stream). */
export const RESENT_HEADER = "Poa-Resent";

/** Publishes the outbox's reports with their Message id as JetStream's de-duplication id. */
export function republisher(nats: NatsRuntime): (messages: Message[]) => Promise<void> {
  return async (messages) => {
    const h = headers();
    h.set(RESENT_HEADER, "1");
    await Promise.all(
      messages.map((m) =>
        nats.js.publish(nats.subjects.message(m.dataType), encode(m), {
          msgID: m.id,
          headers: h,
          timeout: 5000,
        })
      ),
    );
  };
}

/** The stream publisher of one instance: `(message) => true once acked, false when in doubt`. */
export function createStreamPublisher(
  nats: NatsRuntime,
  publishTimeoutMs: number,
): (message: Message) => Promise<boolean> {
  const { js, subjects } = nats;
  /** A metric type's publishing: reports waiting to go out together, batches awaiting their ack. */
  interface Lane {
    waiting: { messages: Message[]; done: PromiseWithResolvers<boolean> } | null;
    inFlight: number;
    scheduled: boolean;
    /** Sends the waiting batch unless MAX_IN_FLIGHT batches await their ack. */
    flush(): void;
  }
  const lanes = new Map<string, Lane>();

  /**
   * Stores `data` on `subject`: true once JetStream acked it, false when in doubt. The client's
   * own timer bounds the wait, connected or not (it buffers while reconnecting and still
   * rejects at the timeout).
   */
  function send(subject: string, data: Uint8Array, msgID?: string): Promise<boolean> {
    return js.publish(subject, data, { timeout: publishTimeoutMs, ...(msgID ? { msgID } : {}) })
      .then(() => true, () => false);
  }

  function laneOf(dataType: string): Lane {
    const known = lanes.get(dataType);
    if (known) return known;
    const subject = subjects.message(dataType);
    const lane: Lane = {
      waiting: null,
      inFlight: 0,
      scheduled: false,
      flush() {
        lane.scheduled = false;
        const batch = lane.waiting;
        if (batch === null || lane.inFlight >= MAX_IN_FLIGHT) return;
        lane.waiting = null;
        lane.inFlight++;
        send(subject, encode(batch.messages.length === 1 ? batch.messages[0] : batch.messages)).then((ok) => {
          lane.inFlight--;
          batch.done.resolve(ok);
          if (lane.waiting !== null && !lane.scheduled) lane.flush();
        });
      },
    };
    lanes.set(dataType, lane);
    return lane;
  }

  /**
   * Publishes a report, batched with the others of its metric type (up to MAX_PUBLISH_BATCH):
   * one stream message, one ack, one replication and one delivery per consumer for all of them.
   * A batch leaves at the end of the current turn of the event loop while fewer than
   * MAX_IN_FLIGHT of its type await their ack, else when one of them is acked: at low load a
   * report goes at once, under load batches grow to cover the ack's round trip. True once
   * JetStream acked it; false when in doubt. A report with an Idempotency-Key goes alone, its id
   * as JetStream's de-duplication id (a resend within the stream's 2-minute window is stored once).
   */
  function toStream(message: Message): Promise<boolean> {
    if (message.idempotent) return send(subjects.message(message.dataType), encode(message), message.id);
    const lane = laneOf(message.dataType);
    lane.waiting ??= { messages: [], done: Promise.withResolvers<boolean>() };
    const batch = lane.waiting;
    batch.messages.push(message);
    if (batch.messages.length >= MAX_PUBLISH_BATCH && lane.inFlight < MAX_IN_FLIGHT) lane.flush();
    else if (!lane.scheduled && lane.inFlight < MAX_IN_FLIGHT) {
      lane.scheduled = true;
      setImmediate(lane.flush);
    }
    return batch.done.promise;
  }

  return toStream;
}
