/**
 * The `alerts` receiver: posts a JSON webhook when a node goes inactive, falls behind, sits on a
 * minority branch of a fork, or comes back.
 *
 * It keeps its own copy of the web dashboard's node state (web_dashboard/state.ts: latest reports,
 * active/inactive, `checkChain()` for the best block, forks and `behindSince`) and looks at it every
 * `checkIntervalMs`; `inactive` alerts go out as soon as the pipeline reports the node inactive.
 * Each condition alerts once per episode; `back` closes a node's episode once nothing is wrong.
 *
 * Delivery reuses the runner of durable receivers (core/runner.ts): each alert is a Message in an
 * inner runner over a one-alert-per-call webhook sink (alert_webhook.ts), so a failing endpoint is retried with capped
 * backoff, alerts beyond the memory bound are spilled to `<dataDir>/alerts/<id>/`, whatever is
 * undelivered at close is written there and replayed, in order, by the next start. At the bounds
 * (`maxMemoryAlerts` waiting for a spill write, `maxDiskBytes` of spill files) new alerts are
 * refused: dropped, counted (`alerts_refused`) and logged; the older ones are kept.
 *
 * The open episodes (nodes alerted and not `back` yet) are saved in
 * `<dataDir>/alerts/<id>.episodes.json` when they change, and taken back at start: a node that was
 * down when the service stopped gets its `back` when it reports again.
 */
import { z } from "zod";
import { type Message, payloadType } from "../core/message.ts";
import type { Receiver, ReceiverType } from "../core/receiver.ts";
import { createReceiverRunner, type ReceiverRunner } from "../core/runner.ts";
import { spillDir, spillDirName, spillRoot } from "../core/spill.ts";
import { createAlertDetector } from "./alert_detector.ts";
import type { Alert, AlertEvent } from "./alert_types.ts";
import { createEpisodesFile } from "./alert_episodes.ts";
import { createWebhookSink } from "./alert_webhook.ts";

export type { Alert, AlertEvent } from "./alert_types.ts";

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}

const schema = z.object({
  /** The webhook: every alert is POSTed here as JSON. */
  url: z.string().refine(isHttpUrl, "must be an http:// or https:// URL"),
  /** Extra request headers (e.g. `authorization`); their values are never logged. */
  headers: z.record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "must be a header name (RFC 9110 token)"),
    // Checked here: fetch refused such a value at every POST, with the value in its error (logged).
    z.string().regex(/^[^\0\r\n]*$/, "must not hold a line break or NUL"),
  ).default({}),
  /** A POST that has not answered in this long counts as failed (and is retried). */
  timeoutMs: z.number().int().positive().default(10_000),
  /** How often nodes are checked for `behind`, `fork` and `back`. */
  checkIntervalMs: z.number().int().min(10).default(5_000),
  /** A node whose head is more than this many blocks below the best one is behind. */
  behindBlocks: z.number().int().min(0).default(3),
  /** Alert `behind` once a node has been behind for this long. */
  behindForMs: z.number().int().min(0).default(60_000),
  /** Alert `fork` once a node has been on a minority branch of a fork for this long (0: at once). */
  forkForMs: z.number().int().min(0).default(0),
  /** Retry backoff of a failed POST: first delay and cap, doubling with jitter. */
  retryBaseMs: z.number().int().positive().default(1_000),
  retryCapMs: z.number().int().positive().default(60_000),
  /** Alerts held in memory (queue, and waiting for a spill write) before they go to disk / are refused. */
  maxMemoryAlerts: z.number().int().positive().default(1_000),
  /** Bytes of spill files at which new alerts are refused (the endpoint has been down a long time). */
  maxDiskBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /** On close, how long undelivered alerts may still be tried before they are written to disk. */
  closeTimeoutMs: z.number().int().min(0).default(2_000),
  /** Nodes tracked; the least recently heard-from one is forgotten beyond it. */
  maxNodes: z.number().int().positive().max(100_000).default(50_000),
  /** An inactive node is forgotten this long after it went inactive (no `back` if it returns later). */
  forgetInactiveAfterMs: z.number().int().positive().default(7 * 86_400_000),
  /**
   * Episodes one agent user's nodes may open in an hour (alert_detector.ts); past it their new ones
   * are not alerted until the hour is over (logged). 0: no bound.
   */
  maxEpisodesPerUserPerHour: z.number().int().min(0).default(1_000),
}).strict();

/** Validated alerts options (defaults applied). */
export type AlertsOptions = z.infer<typeof schema>;

/** The alerts receiver: a live receiver of node reports with `check()` for tests. */
export interface AlertsReceiver extends Receiver {
  init(): Promise<void>;
  inactive(agentId: string): void;
  /** Looks at every node now (the timer calls it every `checkIntervalMs`). */
  check(): void;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

/** Creates an alerts receiver; its undelivered alerts live under `<dataDir>/alerts/<id>/`. */
export function createAlertsReceiver(
  id: string,
  options: AlertsOptions,
  context: { dataDir: string; now?: () => number },
): AlertsReceiver {
  const now = context.now ?? Date.now;
  const detector = createAlertDetector(
    { ...options, warn: (line) => console.warn(`receiver ${id}: ${line}`) },
    now,
  );
  const counters = { delivered: 0, setAside: 0, setAsideDropped: 0 };
  const raised: Record<AlertEvent, number> = { inactive: 0, behind: 0, fork: 0, back: 0 };
  let refused = 0;
  /**
   * Alerts taken (spilled ones found at start included) minus those delivered: the runner's
   * queue_depth + spill_pending counts a replayed segment twice until its file is removed.
   */
  let taken = 0;
  const runner: ReceiverRunner = createReceiverRunner(
    createWebhookSink(
      id,
      options,
      counters,
      `${spillRoot(context.dataDir, "alerts")}/${spillDirName(id)}.set-aside.jsonl`,
    ),
    {
      maxBatch: 1,
      maxQueue: options.maxMemoryAlerts,
      maxSpillBuffer: options.maxMemoryAlerts,
      maxSpillBytes: options.maxDiskBytes,
      segmentSize: 100,
      retryBaseMs: options.retryBaseMs,
      retryCapMs: options.retryCapMs,
      spillDir: spillDir(context.dataDir, "alerts", id),
    },
  );
  let timer: ReturnType<typeof setInterval> | undefined;
  let started = false;
  let closed = false;
  /** The service is stopping: nodes it disconnects are not alerted (service.ts shutdown). */
  let stopping = false;
  const episodes = createEpisodesFile(
    `${spillRoot(context.dataDir, "alerts")}/${spillDirName(id)}.episodes.json`,
    `receiver ${id}`,
  );

  /**
   * Alerts raised faster than the spill buffer is written (a storm: 2,500 nodes back at once in
   * one check), pushed as it empties, in order. Only the disk bound refuses an alert; the memory
   * bound (`maxMemoryAlerts` waiting for a spill write) refused half of such a storm, the webhook
   * up and the disk empty. The backlog holds at most two alerts per tracked node.
   */
  const backlog: Message[] = [];
  let backlogHead = 0;
  const maxBacklog = 2 * Math.max(options.maxNodes, options.maxMemoryAlerts);
  let drainTimer: ReturnType<typeof setTimeout> | undefined;

  function refuse(message: Message): void {
    refused++;
    if (refused === 1 || refused % 100 === 0) {
      const alert = message.data as unknown as Alert;
      console.error(
        `receiver ${id}: ${alert.event} alert of ${alert.node} dropped: pending alerts at their bound ` +
          `(${refused} dropped so far)`,
      );
    }
  }

  function drain(): void {
    drainTimer = undefined;
    while (backlogHead < backlog.length) {
      const message = backlog[backlogHead]!;
      const result = runner.push({ kind: "message", message });
      if (result === "queued" || result === "spilled") taken++;
      else if (result === "full" && runner.stats().spill_bytes < options.maxDiskBytes) {
        drainTimer = setTimeout(drain, 20); // the spill buffer is being written
        return;
      } else refuse(message);
      backlogHead++;
    }
    backlog.length = 0;
    backlogHead = 0;
  }

  function send(alerts: Alert[]): void {
    for (const alert of alerts) {
      raised[alert.event]++;
      const body = JSON.stringify(alert);
      const message: Message = {
        id: alert.id,
        agentId: alert.node,
        dataType: "alerts",
        messageType: "data",
        data: alert as unknown as Record<string, unknown>,
        receivedAt: Date.parse(alert.at),
        bytes: body.length,
      };
      if (backlog.length - backlogHead >= maxBacklog) refuse(message);
      else backlog.push(message);
    }
    if (drainTimer === undefined) drain();
  }

  /**
   * Saves the open episodes when they changed since the last save (one text per check at most);
   * resolves once the file holds them.
   */
  let savedChanges = 0;
  function saveEpisodes(): Promise<void> {
    // Unchanged and saved: nothing to do. A failed save is tried again at the next check.
    if (detector.changes === savedChanges && !episodes.failing()) return episodes.written();
    savedChanges = detector.changes;
    return episodes.save(detector.episodes());
  }

  function check(): void {
    if (closed) return;
    send(detector.check());
    // Here, not per `inactive()`: a storm of 5,000 nodes going inactive wrote the whole list 5,000 times.
    saveEpisodes();
  }

  return {
    id,
    durable: false,
    async init() {
      if (started) return;
      await runner.start();
      taken += runner.stats().spill_pending; // left by the previous run; the loop has not loaded them yet
      // Saved again by the first check: the forget times restore set are kept from this start on.
      detector.restore(await episodes.load());
      started = true;
      timer = setInterval(() => {
        try {
          check();
        } catch (err) {
          // A timer's throw ends the process: one bad check must not take the service with it.
          console.error(`receiver ${id}: check failed:`, err);
        }
      }, options.checkIntervalMs);
    },
    accepts(message) {
      return message.dataType === "ethereum_metrics" && payloadType(message) !== "history";
    },
    receive(batch) {
      for (const message of batch) detector.apply(message);
      return Promise.resolve();
    },
    inactive(agentId) {
      if (stopping) detector.state.inactive(agentId); // the service closed its socket: no alert
      else if (!closed) send(detector.inactive(agentId)); // saved by the next check
    },
    stopping() {
      stopping = true;
    },
    check,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      // A storm's backlog goes into the runner (and so to disk) first, within closeTimeoutMs.
      const deadline = Date.now() + options.closeTimeoutMs;
      while (drainTimer !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      clearTimeout(drainTimer);
      drainTimer = undefined;
      for (; backlogHead < backlog.length; backlogHead++) refuse(backlog[backlogHead]!);
      if (started) await runner.drain(options.closeTimeoutMs);
      if (started) await saveEpisodes();
    },
    stats() {
      const r = runner.stats();
      return {
        alerts_inactive: raised.inactive,
        alerts_behind: raised.behind,
        alerts_fork: raised.fork,
        alerts_back: raised.back,
        alerts_delivered: counters.delivered,
        // The attempt that sets an alert aside is a failed one too (the sink does not throw for it).
        alerts_failed_attempts: r.errors_total + counters.setAside + counters.setAsideDropped,
        alerts_pending: taken - counters.delivered - counters.setAside - counters.setAsideDropped +
          (backlog.length - backlogHead),
        alerts_spilled: r.spilled_total,
        alerts_refused: refused,
        alerts_set_aside: counters.setAside,
        alerts_set_aside_dropped: counters.setAsideDropped,
        alerts_suppressed: detector.suppressed,
        nodes: detector.state.size,
      };
    },
  };
}

/** Registry entry of the `alerts` receiver. */
export const alertsReceiverType: ReceiverType<typeof schema> = {
  options: schema,
  create: (options, context) =>
    createAlertsReceiver(context.config.id, options, { dataDir: context.dataDir }),
};
