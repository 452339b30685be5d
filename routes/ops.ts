/** The ops route group: health and Prometheus metrics. */
import { Hono } from "hono";
import type { LoginLimiter } from "../auth/login_limit.ts";
import type { AuthService } from "../auth/service.ts";
import type { ActivityMonitor } from "../core/activity.ts";
import type { AppEnv } from "../http/app_env.ts";
import type { Bus } from "../core/bus.ts";
import { AppError } from "../http/errors.ts";
import { type Family, type HttpMetrics, renderFamilies, samplesBy } from "../http/prometheus.ts";
import type { ReceiverRunner } from "../core/runner.ts";

export interface OpsRoutesDeps {
  /** True once every listener and receiver is up. */
  ready: () => boolean;
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  limiter: LoginLimiter;
  runners: readonly ReceiverRunner[];
  /** The accepted metric types: each has its published count from the start, 0 until a report. */
  metrics: readonly string[];
  httpMetrics?: HttpMetrics;
  /** Extra families (e.g. the ethstats handler's counters). */
  extraMetrics?: () => Family[];
}

const COUNTER_SUFFIX = "_total";

/** Every metric family the service exposes besides the HTTP ones. */
export function collectFamilies(deps: OpsRoutesDeps): Family[] {
  const bus = deps.bus.stats();
  const families: Family[] = [
    {
      name: "poa_token_checks_total",
      type: "counter",
      help: "Bearer token checks by outcome.",
      samples: samplesBy("outcome", deps.auth.stats),
    },
    {
      name: "poa_password_logins_total",
      type: "counter",
      help: "Agent-user password checks, by whether a verified login was remembered or scrypt ran.",
      samples: samplesBy("by", deps.auth.loginStats),
    },
    {
      name: "poa_failed_logins_total",
      type: "counter",
      help: "Failed password logins (session, admin, ethstats hello).",
      samples: [{ value: deps.limiter.failures }],
    },
    {
      name: "poa_login_limited_total",
      type: "counter",
      help: "Password logins refused by the login limit (429, or un-authorization on the ethstats socket).",
      samples: [{ value: deps.limiter.refused }],
    },
    {
      name: "poa_messages_published_total",
      type: "counter",
      help: "Reports accepted onto the bus (not those refused with 503), by metric type.",
      samples: samplesBy("metric_type", {
        ...Object.fromEntries(deps.metrics.map((type) => [type, 0])),
        ...bus.published,
      }),
    },
    {
      name: "poa_bus_pushes_total",
      type: "counter",
      help:
        "Items handed to receiver queues, by outcome (queued, spilled, dropped_oldest, closed, filtered, full).",
      samples: samplesBy("outcome", bus.pushes),
    },
    ...(bus.outbox
      ? [{
        name: "poa_cluster_outbox",
        // Levels (pending, bytes) and counts (accepted_total…) side by side, as poa_receiver_stat.
        type: "untyped" as const,
        help: "Cluster outbox: reports waiting to be published again (pending, bytes), written to it, " +
          "published from it, failed attempts, resent copies the live feeds dropped.",
        samples: samplesBy("stat", bus.outbox),
      }]
      : []),
    {
      name: "poa_agents_known",
      type: "gauge",
      help: "Agents that have pinged or said bye since start.",
      samples: [{ value: deps.activity.knownAgents }],
    },
    {
      name: "poa_agents_active",
      type: "gauge",
      help: "Agents that pinged within the inactivity timeout.",
      samples: [{ value: deps.activity.activeAgents }],
    },
  ];
  // Runner counters: one family per field, labelled by receiver.
  const byField = new Map<string, Family>();
  for (const runner of deps.runners) {
    const stats: Record<string, number> = { ...runner.stats() };
    for (const [field, value] of Object.entries(stats)) {
      const counter = field.endsWith(COUNTER_SUFFIX);
      const name = `poa_receiver_${field}`;
      let f = byField.get(name);
      if (!f) {
        byField.set(
          name,
          f = {
            name,
            type: counter ? "counter" : "gauge",
            help: `Receiver queue ${field.replaceAll("_", " ")}.`,
            samples: [],
          },
        );
      }
      f.samples.push({ labels: { receiver: runner.receiver.id }, value });
    }
  }
  const own: Family = {
    name: "poa_receiver_stat",
    // Counts (rows written) and levels (clients connected) side by side, as each receiver keeps them.
    type: "untyped",
    help:
      "Receiver-specific figures: counts (rows written, malformed skipped…) and levels (dashboard clients…).",
    samples: [],
  };
  for (const runner of deps.runners) {
    for (const [stat, value] of Object.entries(runner.receiver.stats?.() ?? {})) {
      own.samples.push({ labels: { receiver: runner.receiver.id, stat }, value });
    }
  }
  families.push(...byField.values(), own, ...(deps.extraMetrics?.() ?? []), ...memoryFamilies());
  return families;
}

/** The process's memory: resident set, and the JavaScript heap and its external buffers. */
function memoryFamilies(): Family[] {
  const m = Deno.memoryUsage();
  return [
    {
      name: "process_resident_memory_bytes",
      type: "gauge",
      help: "Resident memory size in bytes.",
      samples: [{ value: m.rss }],
    },
    {
      name: "poa_js_heap_bytes",
      type: "gauge",
      help: "JavaScript heap: used and total (V8), and external memory held by JS objects (buffers).",
      samples: [
        { labels: { kind: "used" }, value: m.heapUsed },
        { labels: { kind: "total" }, value: m.heapTotal },
        { labels: { kind: "external" }, value: m.external },
      ],
    },
  ];
}

/** Builds the ops sub-app. */
export function createOpsRoutes(deps: OpsRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => {
    if (!deps.ready()) throw new AppError(503, "not_ready", "the service is starting or stopping");
    // Ready once every receiver has initialized (its tables exist, its store answers); a sink
    // that fails later does not flip this: its messages wait in the queue and the spill.
    const starting = deps.runners.filter((r) => !r.initialized()).map((r) => r.receiver.id);
    if (starting.length > 0) {
      throw new AppError(503, "not_ready", `receivers still starting: ${starting.join(", ")}`);
    }
    return c.json({ status: "ok" });
  });
  app.get("/metrics", (c) => {
    const text = (deps.httpMetrics?.render() ?? "") + renderFamilies(collectFamilies(deps));
    return c.text(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  return app;
}
