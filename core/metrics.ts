/** Prometheus text exposition of the service's counters (no client library needed). */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./app_env.ts";

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

/** Creates the HTTP metrics and the middleware that feeds them. */
export function createHttpMetrics(): HttpMetrics {
  const requests = new Map<string, number>();
  const latency = new Map<string, Histogram>();
  return {
    middleware: async function httpMetrics(c, next) {
      const start = performance.now();
      try {
        await next();
      } finally {
        // routePath keeps labels bounded ("/user/:name", not every name); 404s share one label.
        const matched = c.res.status === 404 && c.error === undefined && c.req.routePath === "/*";
        const route = matched ? "unmatched" : c.req.routePath;
        const key = `${c.req.method} ${route} ${c.res.status}`;
        requests.set(key, (requests.get(key) ?? 0) + 1);
        const hkey = `${c.req.method} ${route}`;
        let h = latency.get(hkey);
        if (!h) latency.set(hkey, h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 });
        const seconds = (performance.now() - start) / 1000;
        for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) h.counts[i]!++;
        h.sum += seconds;
        h.count++;
      }
    },
    render() {
      const out: string[] = [
        "# HELP poa_http_requests_total HTTP requests by method, route and status.",
        "# TYPE poa_http_requests_total counter",
      ];
      for (const [key, n] of requests) {
        const [method, route, status] = key.split(" ");
        out.push(
          `poa_http_requests_total{method="${method}",route="${esc(route!)}",status="${status}"} ${n}`,
        );
      }
      out.push(
        "# HELP poa_http_request_duration_seconds HTTP request latency by method and route.",
        "# TYPE poa_http_request_duration_seconds histogram",
      );
      for (const [key, h] of latency) {
        const [method, route] = key.split(" ");
        const labels = `method="${method}",route="${esc(route!)}"`;
        BUCKETS.forEach((b, i) =>
          out.push(`poa_http_request_duration_seconds_bucket{${labels},le="${b}"} ${h.counts[i]}`)
        );
        out.push(`poa_http_request_duration_seconds_bucket{${labels},le="+Inf"} ${h.count}`);
        out.push(`poa_http_request_duration_seconds_sum{${labels}} ${h.sum}`);
        out.push(`poa_http_request_duration_seconds_count{${labels}} ${h.count}`);
      }
      return out.join("\n") + "\n";
    },
  };
}

/** Escapes a Prometheus label value. */
export function esc(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** One metric family: name, type, help and samples (labels → value). */
export interface Family {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: Array<{ labels?: Record<string, string>; value: number }>;
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
