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

/** Header naming the instance that published a stream message (not set on outbox resends). */
export const ORIGIN_HEADER = "Poa-Origin";

/**
 * A publish's outcome: "stored" once JetStream acked it, "duplicate" when JetStream already had
 * a report with its de-duplication id (an Idempotency-Key resent), "too_large" when the report
 * alone is larger than a NATS message may be (nothing was sent), false when in doubt.
 */
export type Stored = "stored" | "duplicate" | "too_large" | false;

/** Room kept in a stream message for its headers (origin, de-duplication id). */
const HEADER_ROOM = 4096;

/**
 * The largest stream message payload: the server's `max_payload` (NATS's default is 1 MiB) less
 * room for the headers. A payload over it is refused by the client at once, for good.
 */
export function payloadLimit(nats: NatsRuntime): number {
  return (nats.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM;
}

/**
 * Publishes the outbox's reports with their Message id as JetStream's de-duplication id. A report
 * that can never fit a NATS message (the server's max_payload was lowered since) is dropped with
 * an error line rather than retried for good in front of every report behind it.
 */
export function republisher(nats: NatsRuntime): (messages: Message[]) => Promise<void> {
  return async (messages) => {
    const limit = payloadLimit(nats);
    await Promise.all(messages.map((m) => {
      const data = encode(m);
      if (data.byteLength > limit) {
        console.error(
          `cluster: report ${m.id} of ${m.agentId} dropped from the outbox: ${data.byteLength} bytes, ` +
            `more than NATS's max_payload allows (${limit})`,
        );
        return;
      }
      return nats.js.publish(nats.subjects.message(m.dataType), data, { msgID: m.id, timeout: 5000 });
    }));
  };
}

/** The stream publisher of one instance, `origin` naming it on what it publishes. */
export function createStreamPublisher(
  nats: NatsRuntime,
  publishTimeoutMs: number,
  origin: string,
): (message: Message) => Promise<Stored> {
  const { js, subjects } = nats;
  /** Every stream message this publisher sends says it came from `origin` (never mutated: no msgID). */
  const originHeaders = headers();
  originHeaders.set(ORIGIN_HEADER, origin);
  /** A metric type's publishing: reports waiting to go out together, batches awaiting their ack. */
  interface Lane {
    /**
     * The batch being filled; `bytes` sums its reports' sizes as they came in; `since`: when its
     * first report came, whose answer is due `publishTimeoutMs` later (`due`, set while it waits
     * for a batch in flight to be acked, sends it anyway once it has waited a quarter of that).
     */
    waiting: {
      messages: Message[];
      bytes: number;
      done: PromiseWithResolvers<Stored>;
      since: number;
      due: ReturnType<typeof setTimeout> | undefined;
    } | null;
    inFlight: number;
    scheduled: boolean;
    /** Sends the waiting batch unless MAX_IN_FLIGHT batches await their ack (or `now`). */
    flush(now?: boolean): void;
  }
  /**
   * A batch closes before its reports' sizes pass this: MessagePack may take more bytes than the
   * JSON a report came in (a float is 9 bytes), so a third of the stream's message size.
   */
  const batchBytes = Math.floor(payloadLimit(nats) / 3);
  const lanes = new Map<string, Lane>();

  /**
   * Stores `data` on `subject` (see `Stored`). The client's own timer bounds the wait, connected
   * or not (it buffers while reconnecting and still rejects at the timeout).
   */
  function send(
    subject: string,
    data: Uint8Array,
    msgID?: string,
    timeout = publishTimeoutMs,
  ): Promise<Stored> {
    let h = originHeaders;
    if (msgID) {
      h = headers(); // js.publish adds the de-duplication id to the headers it is given
      h.set(ORIGIN_HEADER, origin);
    }
    return js.publish(subject, data, { timeout, headers: h, ...(msgID ? { msgID } : {}) })
      .then((ack): Stored => ack.duplicate ? "duplicate" : "stored", () => false);
  }

  /**
   * The waiting batch waits for an ack of a batch in flight, but not for long (NATS slow or away:
   * a whole publish timeout, after which its own began): a quarter of `publishTimeoutMs` after its
   * first report it goes out whatever is in flight, with the rest of that time for its ack. Acks
   * slower than that but in time still find every report stored; answers come within the timeout.
   */
  function waitForAck(lane: Lane): void {
    const batch = lane.waiting;
    if (batch === null || batch.due !== undefined) return;
    batch.due = setTimeout(() => {
      if (lane.waiting === batch) lane.flush(true);
    }, Math.max(0, publishTimeoutMs / 4 - (Date.now() - batch.since)));
  }

  function laneOf(dataType: string): Lane {
    const known = lanes.get(dataType);
    if (known) return known;
    const subject = subjects.message(dataType);
    const lane: Lane = {
      waiting: null,
      inFlight: 0,
      scheduled: false,
      flush(now = false) {
        lane.scheduled = false;
        const batch = lane.waiting;
        if (batch === null) return;
        if (lane.inFlight >= MAX_IN_FLIGHT && !now) return waitForAck(lane);
        lane.waiting = null;
        clearTimeout(batch.due);
        // What is left of its first report's publishTimeoutMs: a report's answer waits no longer
        // in all (before: the wait for the batches in flight, then a whole timeout of its own).
        const left = Math.max(1, publishTimeoutMs - (Date.now() - batch.since));
        lane.inFlight++;
        const data = encode(batch.messages.length === 1 ? batch.messages[0] : batch.messages);
        // Past the limit after all (reports that grew more than threefold): each goes alone.
        const sent = data.byteLength > payloadLimit(nats)
          ? Promise.all(batch.messages.map((m) => alone(m, left))).then((all): Stored =>
            all.every((s) => s === "stored" || s === "duplicate") ? "stored" : false
          )
          : send(subject, data, undefined, left);
        sent.then((stored) => {
          lane.inFlight--;
          batch.done.resolve(stored);
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
   * report goes at once, under load batches grow to cover the ack's round trip. A report with
   * an Idempotency-Key goes alone, its id
   * as JetStream's de-duplication id (a resend within the stream's 2-minute window is stored once).
   */
  function toStream(message: Message): Promise<Stored> {
    const bytes = message.bytes ?? 0;
    if (message.idempotent || bytes > batchBytes) return alone(message);
    const lane = laneOf(message.dataType);
    // A batch full in bytes goes now, whatever is in flight: the next one starts with this report.
    if (lane.waiting !== null && lane.waiting.bytes + bytes > batchBytes) lane.flush(true);
    lane.waiting ??= {
      messages: [],
      bytes: 0,
      done: Promise.withResolvers<Stored>(),
      since: Date.now(),
      due: undefined,
    };
    const batch = lane.waiting;
    batch.messages.push(message);
    batch.bytes += bytes;
    if (batch.messages.length >= MAX_PUBLISH_BATCH && lane.inFlight < MAX_IN_FLIGHT) lane.flush();
    else if (!lane.scheduled && lane.inFlight < MAX_IN_FLIGHT) {
      lane.scheduled = true;
      setImmediate(lane.flush);
    } else if (lane.inFlight >= MAX_IN_FLIGHT) waitForAck(lane);
    return batch.done.promise;
  }

  /**
   * A report as a stream message of its own (an Idempotency-Key's id as JetStream's
   * de-duplication id), or "too_large" without sending anything when it cannot fit one.
   */
  function alone(message: Message, timeout = publishTimeoutMs): Promise<Stored> {
    const data = encode(message);
    if (data.byteLength > payloadLimit(nats)) return Promise.resolve("too_large");
    return send(
      subjects.message(message.dataType),
      data,
      message.idempotent ? message.id : undefined,
      timeout,
    );
  }

  return toStream;
}
