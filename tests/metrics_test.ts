/** GET /metrics: Prometheus text with requests, token checks, messages, queues, agents, logins. */
import assert from "node:assert/strict";
import { basic, createHarness, userWithToken, waitFor, withBody } from "./support/harness.ts";

Deno.test("GET /metrics counts requests by route and status, token checks, messages, queues, agents and failed logins", async () => {
  const h = await createHarness({ ethstats: true });
  try {
    const { token } = await userWithToken(h);
    const auth = { authorization: `Bearer ${token}` };
    await (await h.app.request("/ping", withBody("json", { id: "a" }, { headers: auth }))).body?.cancel();
    await (await h.app.request(
      "/data",
      withBody("json", { id: "a", type: "system_metrics", data: {} }, { headers: auth }),
    )).body?.cancel();
    await (await h.app.request(
      "/ping",
      withBody("json", { id: "a" }, { headers: { authorization: "Bearer nope" } }),
    )).body?.cancel();
    await (await h.app.request("/session", {
      method: "POST",
      headers: { authorization: basic("x", "wrong-password") },
    })).body?.cancel();
    // A wrong admin password is a failed login; no credentials at all would not be one.
    await (await h.app.request("/user/x%20y", {
      method: "DELETE",
      headers: { authorization: basic("root", "not-the-password") },
    })).body?.cancel();
    await waitFor(() => h.recorder.messages.length === 1);
    const res = await h.app.request("/metrics");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /text\/plain/);
    const text = await res.text();
    const expect = [
      'poa_http_requests_total{method="POST",route="/ping",status="200"} 1',
      'poa_http_requests_total{method="POST",route="/ping",status="401"} 1',
      'poa_http_requests_total{method="POST",route="/data",status="200"} 1',
      'poa_http_requests_total{method="DELETE",route="/user/:name",status="401"} 1',
      'poa_http_request_duration_seconds_count{method="POST",route="/ping"} 2',
      'poa_token_checks_total{outcome="ok"} 2',
      'poa_token_checks_total{outcome="invalid"} 1',
      'poa_messages_published_total{metric_type="system_metrics"} 1',
      // Every accepted metric type from the start, not only once a report of it came.
      'poa_messages_published_total{metric_type="ethereum_metrics"} 0',
      "poa_failed_logins_total 2",
      'poa_bus_pushes_total{outcome="queued"} 1',
      "poa_agents_active 1",
      'poa_receiver_delivered_total{receiver="recorder"} 1',
      'poa_receiver_queue_depth{receiver="recorder"} 0',
      'poa_receiver_dropped_total{receiver="recorder"} 0',
    ];
    for (const line of expect) assert.ok(text.includes(line), `missing: ${line}\n${text}`);
    for (const line of text.trim().split("\n")) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [0-9.e+-]+)$/, line);
    }
    // Counts are counters named *_total (rate() reads them), and nothing else is.
    for (const [, name, type] of text.matchAll(/^# TYPE (\w+) (\w+)$/gm)) {
      if (type === "histogram") continue;
      assert.equal(name!.endsWith("_total"), type === "counter", `${name} is a ${type}`);
      if (type === "untyped") assert.equal(name, "poa_receiver_stat"); // the one family of both kinds
    }
    assert.match(text, /^poa_ethstats_total\{stat="logins_ok"\} 0$/m);
    assert.match(text, /^poa_ethstats_connections_open 0$/m);
    // Memory: plausible figures, not fixed ones (RSS above the used heap, both above 1 MB).
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
    const rss = value("process_resident_memory_bytes");
    const heapUsed = value('poa_js_heap_bytes\\{kind="used"\\}');
    assert.ok(heapUsed > 1e6 && rss > heapUsed, `rss ${rss}, heap used ${heapUsed}`);
  } finally {
    await h.close();
  }
});
