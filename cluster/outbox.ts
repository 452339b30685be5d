/**
 * The instance's outbox: reports JetStream did not acknowledge in time, kept on disk and
 * published again until it does. It is what makes a cluster answer mean one thing:
 *
 * - 200: JetStream stored the report, or this instance wrote it to its outbox (synced to disk)
 *   and will publish it, with the same Message id, until JetStream takes it;
 * - 503: the report was not published at all (the outbox was at its bound before the attempt),
 *   so the agent's resend is the only copy.
 *
 * A report whose first publish was in doubt (timed out, connection lost) may be stored twice in
 * the stream; both copies carry one Message id: storage receivers write it once
 * (`on conflict (msg_id)`), and the live feeds drop a copy of a report they already showed
 * (jetstream_queue.ts).
 *
 * While the outbox holds anything, new reports go behind it, so an agent's reports reach the
 * stream in the order they came. Segments are written by core/spill.ts (one file per batch,
 * synced before the answer); an instance that dies with reports in its outbox publishes them
 * when it starts again.
 */
import { setImmediate } from "node:timers";
import type { Message } from "../core/message.ts";
import { openSpillStore, type SpillStore } from "../core/spill.ts";
import { backoffMs, sleep } from "../core/delivery_policy.ts";

export interface OutboxOptions {
  dir: string;
  /** Bytes on disk at which the outbox refuses reports (they get a 503 before any publish). */
  maxBytes: number;
  /** Publishes the messages again (resolves once JetStream acked every one, rejects otherwise). */
  publish(messages: Message[]): Promise<void>;
}

export interface Outbox {
  /** Reports wait in it (or are being written): new ones go behind them. */
  busy(): boolean;
  /** At its bound: a report must be refused before it is published. */
  full(): boolean;
  /** Writes the message to disk with the others of this turn; resolves once synced. */
  accept(message: Message): Promise<void>;
  /** Stops publishing (what is left stays on disk for the next start). */
  close(): Promise<void>;
  stats(): {
    pending: number;
    bytes: number;
    accepted_total: number;
    republished_total: number;
    failures_total: number;
  };
}

export async function openOutbox(options: OutboxOptions): Promise<Outbox> {
  const store: SpillStore = await openSpillStore(options.dir);
  const stop = new AbortController();
  let batch: Message[] = [];
  /** The write of the batch being collected, resolved when it is on disk. */
  let batchWritten: PromiseWithResolvers<void> | null = null;
  /** Writes one at a time, so segments are numbered in the order reports came. */
  let writes: Promise<void> = Promise.resolve();
  let inFlight = 0;
  let accepted = 0;
  let republished = 0;
  let failures = 0;
  let wake: (() => void) | null = null;

  function flush(): void {
    const items = batch.map((message) => ({ kind: "message" as const, message }));
    const done = batchWritten!;
    batch = [];
    batchWritten = null;
    writes = writes.then(() => store.append(items)).then(
      () => {
        inFlight -= items.length;
        accepted += items.length;
        done.resolve();
        wake?.();
      },
      (err) => {
        inFlight -= items.length;
        done.reject(err);
      },
    );
  }

  const loop = (async () => {
    for (let attempt = 0; !stop.signal.aborted;) {
      let step = "reading a segment";
      try {
        // A read error (EIO, a data dir that changed owner) is retried like a failed publish: out
        // of this loop it was an unhandled rejection that ended the instance.
        const segment = store.segments > 0 ? await store.oldest() : null;
        if (segment === null) {
          await new Promise<void>((resolve) => wake = resolve); // a write, or close()
          wake = null;
          continue;
        }
        const messages = segment.items.flatMap((item) => item.kind === "message" ? [item.message] : []);
        step = `publishing ${messages.length} report(s)`;
        await options.publish(messages);
        republished += messages.length;
        attempt = 0;
        // Published: out of the store's index whatever the removal does (a file left is read
        // again at the next start only; JetStream's de-duplication window takes the resend).
        await store.remove(segment.name).catch((err) => {
          console.error(
            `cluster outbox: removing published segment ${segment.name} failed:`,
            (err as Error).message,
          );
        });
      } catch (err) {
        failures++;
        if (attempt === 0 || attempt % 20 === 0) {
          console.error(`cluster outbox: ${step} failed, retrying:`, (err as Error).message);
        }
        await sleep(backoffMs(attempt++, 100, 2000), stop.signal);
      }
    }
  })();

  return {
    busy: () => store.segments > 0 || inFlight > 0,
    full: () => store.pendingBytes >= options.maxBytes,
    accept(message) {
      inFlight++;
      batch.push(message);
      if (batchWritten === null) {
        batchWritten = Promise.withResolvers<void>();
        setImmediate(flush);
      }
      return batchWritten.promise;
    },
    async close() {
      stop.abort();
      wake?.();
      await loop;
      await writes.catch(() => {});
    },
    stats: () => ({
      pending: store.pendingItems + inFlight,
      bytes: store.pendingBytes,
      accepted_total: accepted,
      republished_total: republished,
      failures_total: failures,
    }),
  };
}
