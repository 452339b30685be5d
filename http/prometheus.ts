/** Prometheus text exposition of the service's counters (no client library needed). */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app_env.ts";

/** Method labels kept as they are; any other method (a client may send any token) is "other". */
const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

/** Request counts by route and status, and a latency histogram by route. */
export interface HttpMetrics {
  middleware: MiddlewareHandler<AppEnv>;
  render(): string;
}

/** Counts and latency of one method and route. */
interface RouteStats {
  /** status → requests */
  statuses: Map<number, number>;
  latency: Histogram;
}

/** Creates the HTTP metrics and the middleware that feeds them. */
export function createHttpMetrics(): HttpMetrics {
  // method → route → stats: no key strings built per request.
  const routes = new Map<string, Map<string, RouteStats>>();

  function statsOf(method: string, route: string): RouteStats {
    let byRoute = routes.get(method);
    if (!byRoute) routes.set(method, byRoute = new Map());
    let stats = byRoute.get(route);
    if (!stats) {
      byRoute.set(
        route,
        stats = { statuses: new Map(), latency: { counts: BUCKETS.map(() => 0), sum: 0, count: 0 } },
      );
    }
    return stats;
  }

  return {
    middleware: async function httpMetrics(c, next) {
      const start = performance.now();
      try {
        await next();
      } finally {
        const status = c.res.status;
        // routePath keeps labels bounded ("/user/:name", not every name); 404s share one label.
        const path = c.req.routePath;
        const route = status === 404 && c.error === undefined && path === "/*" ? "unmatched" : path;
        const method = c.req.method;
        const stats = statsOf(METHODS.has(method) ? method : "other", route);
        stats.statuses.set(status, (stats.statuses.get(status) ?? 0) + 1);
        const seconds = (performance.now() - start) / 1000;
        // Per-bucket counts here; render() makes them cumulative.
        const h = stats.latency;
        let i = 0;
        while (i < BUCKETS.length && seconds > BUCKETS[i]!) i++;
        if (i < BUCKETS.length) h.counts[i]!++;
        h.sum += seconds;
        h.count++;
      }
    },
    render() {
      const out: string[] = [
        "# HELP poa_http_requests_total HTTP requests by method, route and status.",
        "# TYPE poa_http_requests_total counter",
      ];
      for (const [method, byRoute] of routes) {
        for (const [route, stats] of byRoute) {
          for (const [status, n] of stats.statuses) {
            out.push(
              `poa_http_requests_total{method="${method}",route="${esc(route)}",status="${status}"} ${n}`,
            );
          }
        }
      }
      out.push(
        "# HELP poa_http_request_duration_seconds HTTP request latency by method and route.",
        "# TYPE poa_http_request_duration_seconds histogram",
      );
      for (const [method, byRoute] of routes) {
        for (const [route, { latency: h }] of byRoute) {
          const labels = `method="${method}",route="${esc(route)}"`;
          let cumulative = 0;
          BUCKETS.forEach((b, i) => {
            cumulative += h.counts[i]!;
            out.push(`poa_http_request_duration_seconds_bucket{${labels},le="${b}"} ${cumulative}`);
          });
          out.push(`poa_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
          out.push(`poa_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
          out.push(`poa_http_request_duration_seconds_count{${labels}} ${h.count}`);
        }
      }
      return out.join("\n") + "\n";
    },
  };
}

/** Escapes a Prometheus label value. */
export function esc(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/**
 * One metric family: name, type, help and samples (labels → value). `untyped` for a family whose
 * samples are of both kinds (each receiver's own figures).
 */
export interface Family {
  name: string;
  type: "counter" | "gauge" | "untyped";
  help: string;
  samples: Array<{ labels?: Record<string, string>; value: number }>;
}

/** One sample per entry of `counts`, its key as the value of `label` (e.g. `{outcome: "ok"}`). */
export function samplesBy(label: string, counts: Record<string, number>): Family["samples"] {
  return Object.entries(counts).map(([key, value]) => ({ labels: { [label]: key }, value }));
}

/** Renders metric families in the Prometheus text format. */
export function renderFamilies(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length > 0
        ? "{" + Object.entries(s.labels).map(([k, v]) => `${k}="${esc(v)}"`).join(",") + "}"
        : "";
      out.push(`${f.name}${labels} ${s.value}`);
    }
  }
  return out.join("\n") + "\n";
}
