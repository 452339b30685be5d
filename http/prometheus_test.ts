import assert from "node:assert/strict";
import { Hono } from "hono";
import type { AppEnv } from "./app_env.ts";
import { createHttpMetrics } from "./prometheus.ts";

/** The samples of a rendered family as a map "name{labels}" → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const cut = line.lastIndexOf(" ");
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

Deno.test("the latency histogram is cumulative, ends at the count, and labels use the route pattern", async () => {
  const metrics = createHttpMetrics();
  const app = new Hono<AppEnv>();
  app.use("*", metrics.middleware);
  app.get("/fast/:id", (c) => c.text("ok"));
  app.get("/slow", async (c) => {
    await new Promise((resolve) => setTimeout(resolve, 30));
    return c.text("ok");
  });
  for (let i = 0; i < 3; i++) await app.request(`/fast/${i}`);
  await app.request("/slow");
  await app.request("/nowhere");
  const s = samples(metrics.render());

  assert.equal(s.get('poa_http_requests_total{method="GET",route="/fast/:id",status="200"}'), 3);
  assert.equal(s.get('poa_http_requests_total{method="GET",route="/slow",status="200"}'), 1);
  assert.equal(s.get('poa_http_requests_total{method="GET",route="unmatched",status="404"}'), 1);
  const slow = (le: string) =>
    s.get(`poa_http_request_duration_seconds_bucket{method="GET",route="/slow",le="${le}"}`);
  assert.equal(slow("0.025"), 0);
  assert.equal(slow("0.05"), 1);
  assert.equal(slow("2.5"), 1);
  assert.equal(slow("+Inf"), 1);
  let previous = 0;
  for (
    const le of [
      "0.0005",
      "0.001",
      "0.0025",
      "0.005",
      "0.01",
      "0.025",
      "0.05",
      "0.1",
      "0.25",
      "0.5",
      "1",
      "2.5",
      "+Inf",
    ]
  ) {
    const n = s.get(`poa_http_request_duration_seconds_bucket{method="GET",route="/fast/:id",le="${le}"}`)!;
    assert.ok(n >= previous, `bucket ${le} is cumulative`);
    previous = n;
  }
  assert.equal(previous, 3);
  assert.equal(s.get('poa_http_request_duration_seconds_count{method="GET",route="/fast/:id"}'), 3);
});

Deno.test("made-up request methods share one label: a client cannot grow /metrics with them", async () => {
  const metrics = createHttpMetrics();
  const app = new Hono<AppEnv>();
  app.use("*", metrics.middleware);
  app.get("/x", (c) => c.text("ok"));
  await app.request("/x");
  const before = metrics.render().length;
  for (let i = 0; i < 200; i++) await app.request("/x", { method: `M${i}${"X".repeat(500)}` });
  const text = metrics.render();
  const s = samples(text);
  assert.equal(s.get('poa_http_requests_total{method="other",route="unmatched",status="404"}'), 200);
  assert.equal(s.get('poa_http_requests_total{method="GET",route="/x",status="200"}'), 1);
  assert.ok(!text.includes("XXXX"), "no method name in the labels");
  assert.ok(text.length < before * 3, `${text.length} bytes after 200 methods, ${before} before`);
});
