/**
 * The web dashboard's read API, feed and access over a real listener, with the eth_stats and
 * system_stats receivers writing to a real Postgres.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { ACCESS_COOKIE } from "../web_dashboard/receiver.ts";
import { createAgent, eventually } from "./support/agent.ts";
import { eventStreamClient } from "./support/event_stream.ts";
import { block, information, latency, pending, systemStatistics } from "./support/fixtures.ts";
import { startTestPostgres } from "./support/postgres.ts";
import { publishReport, startTestService, type TestService } from "./support/service.ts";

const METRICS = ["ethereum_metrics", "networking_metrics", "system_metrics"];
/** Nothing listens on port 1: a Postgres that is down. */
const DEAD_POSTGRES = "postgres://nobody:nothing@127.0.0.1:1/none";

function webService(
  web: Record<string, unknown>,
  config: Record<string, unknown> = {},
): Promise<TestService> {
  return startTestService({
    postgres: { url: DEAD_POSTGRES },
    receivers: [{ id: "web", type: "web", subscribe: METRICS, ...web }],
    ...config,
  });
}

async function getJson(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, init);
  const text = await res.text();
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, `${url}: ${text}`);
  return { status: res.status, body: JSON.parse(text) };
}

async function assert422(url: string, param: string): Promise<void> {
  const { status, body } = await getJson(url);
  assert.equal(status, 422, `${url} → ${status} ${JSON.stringify(body)}`);
  assert.equal(body["error"], "invalid_query", url);
  assert.equal(typeof body["message"], "string");
  assert.ok((body["message"] as string).includes(param), `${url}: "${body["message"]}" should name ${param}`);
  assert.deepEqual(Object.keys(body).sort(), ["error", "message"]);
}

const MINUTE = 60_000;
const T0 = Date.parse("2024-01-01T00:00:00Z");

/** Inserts eth_stats and system_stats rows for `agentId`, one per minute from `start`. */
async function insertHistory(sql: postgres.Sql, agentId: string, count: number, start = T0): Promise<void> {
  const eth = [];
  const system = [];
  for (let i = 0; i < count; i++) {
    const date = new Date(start + i * MINUTE).toISOString();
    eth.push({
      date,
      agent_id: agentId,
      active: true,
      mining: i % 2 === 0,
      hashrate: i,
      peers: i % 50,
      gas_price: 1_000_000_000 + i,
      current_block: `0x${i.toString(16)}`,
      highest_block: null,
      starting_block: null,
      msg_id: crypto.randomUUID(),
    });
    system.push({
      date,
      agent_id: agentId,
      cpu_load: i / 100,
      disk_usage: 40 + (i % 10),
      memory_usage: 50.5,
      msg_id: crypto.randomUUID(),
    });
  }
  for (let i = 0; i < count; i += 1000) {
    await sql`insert into eth_stats ${sql(eth.slice(i, i + 1000))}`;
    await sql`insert into system_stats ${sql(system.slice(i, i + 1000))}`;
  }
}

type Rows = Array<Record<string, unknown>>;

Deno.test("web read API: nodes, history over Postgres for every parameter and its bad values, recent blocks", async (t) => {
  const pg = await startTestPostgres();
  let service: TestService | undefined;
  try {
    service = await startTestService({
      postgres: { url: pg.url },
      receivers: [
        {
          id: "web",
          type: "web",
          subscribe: METRICS,
          flushIntervalMs: 100,
          maxBlocks: 5,
          maxRangeMs: 7 * 86_400_000,
          rateLimit: { perSecond: 0 }, // this test sends hundreds of requests from one address
        },
        { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
        { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
      ],
    });
    const base = service.base;
    // The first history request opens the database (and migrates it) through the service's client.
    const first = await getJson(`${base}/v1/nodes/nobody/eth_stats`);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.deepEqual(first.body["rows"], []);

    await t.step(
      "an agent's reports appear in /v1/nodes and /v1/nodes/:id with last-seen time and last reports",
      async () => {
        const id = `api-node-${crypto.randomUUID()}`;
        const agent = await createAgent(base, id);
        const before = Date.now();
        await agent.ping();
        for (const data of [information, block, pending]) await agent.send("ethereum_metrics", data);
        await agent.send("ethereum_metrics", {
          type: "statistics",
          body: {
            active: true,
            mining: false,
            hashrate: 0,
            peers: 9,
            gasPrice: 2,
            syncing: false,
            uptime: 100,
          },
        });
        await agent.send("networking_metrics", latency);
        await agent.send("system_metrics", systemStatistics);
        const node = await eventually(
          async () => {
            const { body } = await getJson(`${base}/v1/nodes/${encodeURIComponent(id)}`);
            const n = body["node"] as { last: Record<string, unknown> } | undefined;
            return n?.last["system"] ? n : undefined;
          },
          3000,
          "the node with all its reports",
        );
        assert.deepEqual(Object.keys(node).sort(), [
          "active",
          "behindSince",
          "blockReceivedAt",
          "firstSeen",
          "id",
          "inactiveSince",
          "last",
          "lastSeen",
          "location",
          "propagation",
        ]);
        const view = node as unknown as Record<string, unknown>;
        assert.equal(view["id"], id);
        assert.equal(view["active"], true);
        assert.equal(view["inactiveSince"], null);
        assert.equal(view["behindSince"], null);
        const lastSeen = Date.parse(view["lastSeen"] as string);
        assert.ok(lastSeen >= before - 1000 && lastSeen <= Date.now() + 1000, `lastSeen ${view["lastSeen"]}`);
        assert.match(view["firstSeen"] as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
        assert.deepEqual(node.last["information"], information.body);
        assert.deepEqual(node.last["pending"], { pending: 7 });
        assert.deepEqual(node.last["latency"], { latency: 12 });
        assert.deepEqual(node.last["system"], systemStatistics.body);
        assert.equal((node.last["statistics"] as Record<string, unknown>)["peers"], 9);
        assert.equal((node.last["block"] as Record<string, unknown>)["number"], block.body.number);
        const list = await getJson(`${base}/v1/nodes`);
        assert.equal(list.status, 200);
        const nodes = list.body["nodes"] as Array<{ id: string }>;
        assert.ok(nodes.some((n) => n.id === id));
        assert.equal(list.body["total"], nodes.length);
        // The agent says bye: inactive, with the time it happened.
        await agent.bye();
        await eventually(
          async () => {
            const { body } = await getJson(`${base}/v1/nodes/${encodeURIComponent(id)}`);
            const n = body["node"] as Record<string, unknown>;
            return n["active"] === false && typeof n["inactiveSince"] === "string" ? n : undefined;
          },
          3000,
          "the node inactive",
        );
      },
    );

    await t.step("statistics written by the eth_stats and system_stats receivers are read back", async () => {
      const id = `api-stored-${crypto.randomUUID()}`;
      const agent = await createAgent(base, id);
      await agent.send("ethereum_metrics", {
        type: "statistics",
        body: {
          active: true,
          mining: true,
          hashrate: 25,
          peers: 12,
          gasPrice: 1_000_000_000,
          syncing: { currentBlock: "0xfa0", highestBlock: "0x1388", startingBlock: "0x1" },
          uptime: 100,
        },
      });
      await agent.send("system_metrics", systemStatistics);
      const eth = await eventually(
        async () => {
          const { body } = await getJson(`${base}/v1/nodes/${encodeURIComponent(id)}/eth_stats`);
          return (body["rows"] as Rows).length === 1 ? body : undefined;
        },
        5000,
        "the eth_stats row",
      );
      const row = (eth["rows"] as Rows)[0]!;
      assert.match(row["date"] as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      assert.ok(
        Math.abs(Date.parse(row["date"] as string) - Date.now()) < 60_000,
        `date ${row["date"]} is UTC`,
      );
      assert.deepEqual({ ...row, date: undefined }, {
        date: undefined,
        active: true,
        mining: true,
        hashrate: 25,
        peers: 12,
        gas_price: 1_000_000_000,
        current_block: "0xfa0",
        highest_block: "0x1388",
        starting_block: "0x1",
      });
      assert.equal(eth["agent_id"], id);
      assert.equal(eth["count"], 1);
      assert.equal(eth["order"], "asc");
      assert.equal(eth["limit"], 100);
      // Default range: the hour up to now.
      assert.ok(Math.abs(Date.parse(eth["to"] as string) - Date.now()) < 10_000);
      assert.equal(Date.parse(eth["to"] as string) - Date.parse(eth["from"] as string), 3_600_000);
      const system = await eventually(
        async () => {
          const { body } = await getJson(`${base}/v1/nodes/${encodeURIComponent(id)}/system_stats`);
          return (body["rows"] as Rows).length === 1 ? body : undefined;
        },
        5000,
        "the system_stats row",
      );
      assert.deepEqual({ ...(system["rows"] as Rows)[0], date: undefined }, {
        date: undefined,
        cpu_load: 0.42,
        memory_usage: 61.5,
        disk_usage: 73,
      });
    });

    await t.step(
      "from and to select an inclusive range, as ISO-8601 or epoch ms, ordered by date",
      async () => {
        const id = `api-range/${crypto.randomUUID()}`; // a "/" in the id travels as %2F
        await insertHistory(pg.sql, id, 10);
        const path = `${base}/v1/nodes/${encodeURIComponent(id)}`;
        const minutes = (rows: Rows) => rows.map((r) => (Date.parse(r["date"] as string) - T0) / MINUTE);
        for (const kind of ["eth_stats", "system_stats"]) {
          const cases: Array<[string, number[]]> = [
            ["from=2024-01-01T00:02:00Z&to=2024-01-01T00:05:00Z", [2, 3, 4, 5]],
            [`from=${T0 + 2 * MINUTE}&to=${T0 + 5 * MINUTE}`, [2, 3, 4, 5]],
            ["from=2024-01-01T01:02:00%2B01:00&to=2024-01-01T00:05:00.000Z", [2, 3, 4, 5]],
            ["from=2024-01-01T00:02&to=2024-01-01T00:05:30", [2, 3, 4, 5]], // no zone: UTC
            ["from=2024-01-01&to=2024-01-01T00:01:00Z", [0, 1]],
            ["from=2024-01-01T00:03:00Z&to=2024-01-01T00:03:00Z", [3]],
            ["from=2024-01-01T00:02:00Z&to=2024-01-01T00:05:00Z&order=desc", [5, 4, 3, 2]],
            ["from=2024-01-01T00:02:00Z&to=2024-01-01T00:05:00Z&order=asc&limit=2", [2, 3]],
            ["from=2024-01-01T00:02:00Z&to=2024-01-01T00:05:00Z&order=desc&limit=2", [5, 4]],
            ["from=2024-01-02&to=2024-01-03", []],
          ];
          for (const [query, expected] of cases) {
            const { status, body } = await getJson(`${path}/${kind}?${query}`);
            assert.equal(status, 200, `${kind}?${query}: ${JSON.stringify(body)}`);
            assert.deepEqual(minutes(body["rows"] as Rows), expected, `${kind}?${query}`);
            assert.equal(body["count"], expected.length);
          }
          const { body } = await getJson(`${path}/${kind}?from=${T0}&to=${T0 + MINUTE}`);
          assert.equal(body["from"], "2024-01-01T00:00:00.000Z");
          assert.equal(body["to"], "2024-01-01T00:01:00.000Z");
          assert.equal(body["agent_id"], id);
        }
        // Only `from`: up to now (here: 2024 → now is wider than maxRangeMs, so it is refused).
        await assert422(`${path}/eth_stats?from=2024-01-01`, "from");
      },
    );

    await t.step("limit: 100 by default, at most 1000 rows per response", async () => {
      const id = `api-limit-${crypto.randomUUID()}`;
      await insertHistory(pg.sql, id, 1100);
      for (const kind of ["eth_stats", "system_stats"]) {
        const url = `${base}/v1/nodes/${id}/${kind}?from=2024-01-01&to=2024-01-02`;
        const cases: Array<[string, number, string]> = [
          ["", 100, "2024-01-01T00:00:00.000Z"],
          ["&limit=1", 1, "2024-01-01T00:00:00.000Z"],
          ["&limit=1000", 1000, "2024-01-01T00:00:00.000Z"],
          ["&limit=1000&order=desc", 1000, "2024-01-01T18:19:00.000Z"], // minute 1099
        ];
        for (const [query, count, firstDate] of cases) {
          const { status, body } = await getJson(url + query);
          assert.equal(status, 200);
          const rows = body["rows"] as Rows;
          assert.equal(rows.length, count, query);
          assert.equal(rows[0]!["date"], firstDate, query);
          const dates = rows.map((r) => r["date"] as string);
          const sorted = [...dates].sort();
          assert.deepEqual(dates, query.includes("desc") ? sorted.reverse() : sorted);
        }
      }
    });

    await t.step("bad history parameters are 422 with the error shape, naming the parameter", async () => {
      const day = 86_400_000;
      const cases: Array<[string, string]> = [
        ["from=yesterday", "from"],
        ["from=", "from"],
        ["from=2024-13-01", "from"],
        ["from=2024-02-30", "from"],
        ["from=2024-01-01T25:00:00Z", "from"],
        ["from=-5", "from"],
        ["from=1e12", "from"],
        ["from=1704067200000.5", "from"],
        ["from=9999999999999999", "from"],
        ["from=0x10", "from"],
        ["to=later", "to"],
        ["to=2024-01-01T00:00:00Z&from=2024-01-01T00:00:01Z", "to"],
        [`from=${T0}&to=${T0 + 7 * day + 1}`, "from"],
        ["limit=0", "limit"],
        ["limit=1001", "limit"],
        ["limit=-1", "limit"],
        ["limit=1.5", "limit"],
        ["limit=ten", "limit"],
        ["limit=", "limit"],
        ["order=up", "order"],
        ["order=", "order"],
        ["frm=2024-01-01", "frm"],
      ];
      for (const kind of ["eth_stats", "system_stats"]) {
        for (const [query, param] of cases) await assert422(`${base}/v1/nodes/n1/${kind}?${query}`, param);
        await assert422(`${base}/v1/nodes/${"x".repeat(257)}/${kind}`, "256");
        // Postgres text cannot hold a NUL: a 422, not a 503 from the database
        await assert422(`${base}/v1/nodes/a%00b/${kind}`, "control characters");
      }
      // The widest range allowed is fine.
      const { status } = await getJson(`${base}/v1/nodes/n1/eth_stats?from=${T0}&to=${T0 + 7 * day}`);
      assert.equal(status, 200);
    });

    await t.step(
      "/v1/nodes pages with limit and offset; bad values are 422; unknown nodes are 404",
      async () => {
        const prefix = `api-page-${crypto.randomUUID()}`;
        for (const i of [1, 2, 3]) {
          const agent = await createAgent(base, `${prefix}-${i}`);
          await agent.send("ethereum_metrics", pending);
        }
        const all = await eventually(
          async () => {
            const { body } = await getJson(`${base}/v1/nodes`);
            const ids = (body["nodes"] as Array<{ id: string }>).map((n) => n.id);
            return ids.filter((id) => id.startsWith(prefix)).length === 3 ? ids : undefined;
          },
          3000,
          "three nodes",
        );
        assert.deepEqual(all, [...all].sort(), "ordered by id");
        const { body } = await getJson(`${base}/v1/nodes?limit=2&offset=1`);
        assert.deepEqual((body["nodes"] as Array<{ id: string }>).map((n) => n.id), all.slice(1, 3));
        assert.equal(body["total"], all.length);
        assert.equal(body["limit"], 2);
        assert.equal(body["offset"], 1);
        const past = await getJson(`${base}/v1/nodes?offset=${all.length}`);
        assert.deepEqual(past.body["nodes"], []);
        for (
          const [query, param] of [
            ["limit=0", "limit"],
            ["limit=1001", "limit"],
            ["limit=x", "limit"],
            ["offset=-1", "offset"],
            ["offset=a", "offset"],
            ["sort=id", "sort"],
          ]
        ) {
          await assert422(`${base}/v1/nodes?${query}`, param!);
        }
        const missing = await getJson(`${base}/v1/nodes/${prefix}-none`);
        assert.equal(missing.status, 404);
        assert.equal(missing.body["error"], "not_found");
        await assert422(`${base}/v1/nodes/${prefix}-1?limit=1`, "limit");
      },
    );

    await t.step("/v1/blocks: recent blocks newest first, at most maxBlocks; limit validated", async () => {
      const agent = await createAgent(base, `api-blocks-${crypto.randomUUID()}`);
      const top = 50_000_000 + Math.floor(Math.random() * 1_000_000);
      for (let n = top - 6; n <= top; n++) {
        await agent.send("ethereum_metrics", {
          type: "block",
          body: {
            ...block.body,
            number: n,
            hash: `0x${n.toString(16)}`,
            timestamp: n * 5,
            transactions: ["0x1", "0x2"],
          },
        });
      }
      const blocks = await eventually(
        async () => {
          const { body } = await getJson(`${base}/v1/blocks`);
          const list = body["blocks"] as Rows;
          return list[0]?.["number"] === top ? list : undefined;
        },
        3000,
        "the newest block",
      );
      assert.deepEqual(blocks.map((b) => b["number"]), [top, top - 1, top - 2, top - 3, top - 4]);
      const newest = blocks[0]!;
      assert.equal(newest["hash"], `0x${top.toString(16)}`);
      assert.equal(newest["transactionCount"], 2);
      assert.equal(newest["timestamp"], top * 5);
      assert.equal(newest["reports"], 1);
      assert.match(newest["firstSeen"] as string, /Z$/);
      const two = await getJson(`${base}/v1/blocks?limit=2`);
      assert.deepEqual((two.body["blocks"] as Rows).map((b) => b["number"]), [top, top - 1]);
      for (const query of ["limit=0", "limit=6", "limit=abc", "limit=", "limit=2.5"]) {
        await assert422(`${base}/v1/blocks?${query}`, "limit");
      }
      await assert422(`${base}/v1/blocks?number=1`, "number");
      // Routes without parameters refuse unknown ones too (the secret is always allowed).
      for (const path of ["/v1/chain", "/v1/propagation"]) {
        await assert422(`${base}${path}?net=1`, "net");
        assert.equal((await getJson(`${base}${path}?secret=`)).status, 200);
      }
    });

    await t.step(
      "when Postgres goes down, history is 503 with the error shape and the rest still works; it recovers",
      async () => {
        if (Deno.env.get("TEST_DATABASE_URL")) return; // stopping needs the embedded server
        await pg.stop();
        try {
          const down = await getJson(`${base}/v1/nodes/n1/eth_stats`);
          assert.equal(down.status, 503);
          assert.deepEqual(Object.keys(down.body).sort(), ["error", "message"]);
          assert.equal(down.body["error"], "unavailable");
          assert.equal((await getJson(`${base}/v1/nodes`)).status, 200);
        } finally {
          await pg.start();
        }
        await eventually(
          async () => (await getJson(`${base}/v1/nodes/n1/system_stats`)).status === 200 || undefined,
          10_000,
          "recovery",
        );
      },
    );
  } finally {
    await service?.close();
    await pg.close();
  }
});

Deno.test("with Postgres unreachable, history is 503 with the error shape, never a crash", async () => {
  const t = await webService({});
  try {
    for (const kind of ["eth_stats", "system_stats"]) {
      const { status, body } = await getJson(`${t.base}/v1/nodes/n1/${kind}`);
      assert.equal(status, 503);
      assert.equal(body["error"], "unavailable");
      assert.equal(typeof body["message"], "string");
    }
    // Parameters are still validated first.
    await assert422(`${t.base}/v1/nodes/n1/eth_stats?limit=0`, "limit");
    assert.equal((await getJson(`${t.base}/v1/blocks`)).status, 200);
  } finally {
    await t.close();
  }
});

Deno.test("the page and its assets: content types, versioned links cached for good, ETag revalidation, CSP", async () => {
  const t = await webService({});
  try {
    const page = await fetch(`${t.base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), "no-cache");
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'.*script-src 'self'/);
    assert.equal(page.headers.get("referrer-policy"), "no-referrer");
    const html = await page.text();
    const links = [...html.matchAll(/"assets\/([\w.-]+)\?v=([0-9a-f]{16})"/g)].map((m) =>
      [m[1]!, m[2]!] as const
    );
    assert.deepEqual(links.map(([name]) => name).sort(), ["app.js", "style.css"]);
    const types: Record<string, string> = {
      "app.js": "text/javascript; charset=utf-8",
      "style.css": "text/css; charset=utf-8",
    };
    for (const [name, version] of links) {
      const res = await fetch(`${t.base}/assets/${name}?v=${version}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get("content-type"), types[name]);
      assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
      assert.equal(res.headers.get("etag"), `"${version}"`);
      assert.equal(res.headers.get("x-content-type-options"), "nosniff");
      assert.ok((await res.text()).length > 100);
      // Unversioned (or stale) links revalidate.
      const plain = await fetch(`${t.base}/assets/${name}`);
      assert.equal(plain.headers.get("cache-control"), "no-cache");
      await plain.body?.cancel();
      const revalidated = await fetch(`${t.base}/assets/${name}`, {
        headers: { "if-none-match": `"${version}"` },
      });
      assert.equal(revalidated.status, 304);
      await revalidated.body?.cancel();
    }
    const etag = page.headers.get("etag")!;
    const again = await fetch(`${t.base}/`, { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    await again.body?.cancel();
    for (const missing of ["/assets/nope.js", "/assets/..%2Fdeno.json", "/assets/"]) {
      const res = await fetch(`${t.base}${missing}`);
      assert.equal(res.status, 404, missing);
      assert.equal((await res.json()).error, "not_found");
    }
    // The feed is a stream of server-sent events, for the page's EventSource.
    const feed = await fetch(`${t.base}/feed`);
    assert.equal(feed.status, 200);
    assert.equal(feed.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.equal(feed.headers.get("cache-control"), "no-store");
    await feed.body?.cancel();
  } finally {
    await t.close();
  }
});

interface Frame {
  type: "snapshot" | "update";
  now: number;
  nodes: Array<{ id: string; active: boolean; last: Record<string, Record<string, unknown>> }>;
  removed?: string[];
  blocks: Array<{ number: number }>;
  settings?: Record<string, number>;
}

function feedClient(url: string, headers: Record<string, string> = {}) {
  return eventStreamClient<Frame>(url, headers);
}

Deno.test("the feed sends a snapshot, then coalesces: many reports of a node within a flush become one update", async () => {
  const flushIntervalMs = 300;
  const t = await webService({ flushIntervalMs });
  let client: Awaited<ReturnType<typeof feedClient>> | undefined;
  try {
    const known = await createAgent(t.base, "known");
    await known.send("ethereum_metrics", information);
    await eventually(
      async () => ((await getJson(`${t.base}/v1/nodes`)).body["total"] === 1 || undefined),
      3000,
      "known node",
    );
    // Let a flush pass: a change not yet flushed when a page connects is sent once more after its snapshot.
    await new Promise((resolve) => setTimeout(resolve, 2 * flushIntervalMs));
    client = await feedClient(`${t.base}/feed`);
    await eventually(() => client!.frames.length >= 1 || undefined, 3000, "snapshot");
    const snapshot = client.frames[0]!;
    assert.equal(snapshot.type, "snapshot");
    assert.deepEqual(snapshot.nodes.map((n) => n.id), ["known"]);
    assert.deepEqual(snapshot.nodes[0]!.last["information"], information.body);
    assert.equal(snapshot.settings!["flushIntervalMs"], flushIntervalMs);
    assert.ok(Math.abs(snapshot.now - Date.now()) < 5000);

    const busy = await createAgent(t.base, "busy");
    const started = Date.now();
    const reports = 40;
    for (let i = 1; i <= reports; i++) {
      await busy.send("ethereum_metrics", { type: "pending", body: { pending: i } });
    }
    const elapsed = Date.now() - started;
    await eventually(
      () =>
        client!.frames.some((f) =>
          f.nodes.some((n) => n.id === "busy" && n.last["pending"]?.["pending"] === reports)
        ) || undefined,
      3000,
      "the last report",
    );
    const updates = client.frames.filter((f) => f.type === "update");
    const withBusy = updates.filter((f) => f.nodes.some((n) => n.id === "busy"));
    for (const frame of updates) {
      assert.equal(
        frame.nodes.filter((n) => n.id === "busy").length <= 1,
        true,
        "a node at most once per frame",
      );
      assert.equal(frame.nodes.some((n) => n.id === "known"), false, "unchanged nodes are not resent");
    }
    assert.ok(
      withBusy.length <= Math.ceil(elapsed / flushIntervalMs) + 2,
      `${withBusy.length} frames for ${reports} reports over ${elapsed} ms`,
    );
    assert.ok(withBusy.length < reports);

    // Going inactive is an update too.
    await busy.bye();
    await eventually(
      () =>
        client!.frames.some((f) => f.nodes.some((n) => n.id === "busy" && n.active === false)) || undefined,
      3000,
      "inactive update",
    );
  } finally {
    await client?.close();
    await t.close();
  }
});

/** A GET of `path` over a raw TCP connection that then never reads a byte. */
async function nonReader(port: number, path: string, forwardedFor?: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const via = forwardedFor === undefined ? "" : `X-Forwarded-For: ${forwardedFor}\r\n`;
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${via}\r\n`));
  return conn;
}

/** The status line of what `conn` was answered. */
async function statusOf(conn: Deno.TcpConn): Promise<string> {
  const buf = new Uint8Array(1024);
  const n = await conn.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0)).split("\r\n")[0]!;
}

Deno.test("a full feed makes room for a page from an address holding fewer: the oldest page of the address holding the most goes", async () => {
  // Behind a proxy (trustedProxies): each page's address is its X-Forwarded-For.
  const t = await webService({ maxClients: 6, maxClientsPerAddress: 4 }, { trustedProxies: ["127.0.0.1"] });
  const conns: Deno.TcpConn[] = [];
  try {
    const port = Number(new URL(t.base).port);
    const stats = () => t.service.receivers[0]!.stats!();
    // Two addresses fill the six places with pages that never read.
    for (const address of ["203.0.113.1", "203.0.113.2"]) {
      for (let i = 0; i < 3; i++) conns.push(await nonReader(port, "/feed", address));
    }
    await eventually(() => stats()["clients"] === 6 || undefined, 5000, "six pages connected");
    // Before: 503 for every other address, for as long as those six stayed.
    const honest = await feedClient(`${t.base}/feed`, { "x-forwarded-for": "198.51.100.7" });
    await eventually(() => honest.frames[0], 5000, "the honest page's snapshot");
    assert.equal(stats()["clients_evicted"], 1);
    // The first address, down to two, may not take a place back from the one holding three.
    const again = await nonReader(port, "/feed", "203.0.113.1");
    conns.push(again);
    assert.equal(await statusOf(again), "HTTP/1.1 503 Service Unavailable");
    assert.equal(stats()["clients_evicted"], 1);
    await honest.close();
  } finally {
    for (const conn of conns) conn.close();
    await t.close();
  }
});

Deno.test("pages connecting together share one snapshot, sent in parts the page joins; 40 pages that never read hold none of it up", async () => {
  const nodes = 3000;
  // Every page connecting before the next flush gets the same snapshot.
  const flushIntervalMs = 10_000;
  const started = Date.now();
  const t = await webService({ flushIntervalMs, maxClientsPerAddress: 50 });
  const stalled: Deno.TcpConn[] = [];
  let reader: Awaited<ReturnType<typeof feedClient>> | undefined;
  try {
    for (let i = 0; i < nodes; i++) publishReport(t, `node-${i}`, information);
    await eventually(
      async () => ((await getJson(`${t.base}/v1/nodes?limit=1`)).body["total"] === nodes || undefined),
      5000,
      "nodes known",
    );
    const port = Number(new URL(t.base).port);
    for (let i = 0; i < 40; i++) stalled.push(await nonReader(port, "/feed"));
    const stats = () => t.service.receivers[0]!.stats!();
    await eventually(() => stats()["clients"] === 40 || undefined, 5000, "40 stalled pages connected");

    // A page that reads, as web/app.js does: a `parts` header, then that many events joined.
    reader = await feedClient(`${t.base}/feed`);
    const texts = reader.texts;
    const snapshot = await eventually(() => reader!.frames[0], 10_000, "the snapshot");
    assert.equal(
      JSON.parse(texts[0]!).type,
      "parts",
      `a ${stats()["snapshot_bytes"]}-byte snapshot in one frame`,
    );
    assert.equal(snapshot.type, "snapshot");
    assert.equal(snapshot.nodes.length, nodes);
    const flushes = Math.floor((Date.now() - started) / flushIntervalMs);
    assert.ok(stats()["snapshots_built"]! <= 1 + flushes, `${stats()["snapshots_built"]} snapshots built`);
    assert.equal(stats()["clients"], 41);
  } finally {
    await reader?.close();
    for (const conn of stalled) conn.close();
    await t.close();
  }
});

Deno.test("the feed refuses a page past maxClientsPerAddress with 429, and admits one once another has closed", async () => {
  const t = await webService({ maxClientsPerAddress: 2 });
  const url = `${t.base}/feed`;
  const clients: Array<Awaited<ReturnType<typeof feedClient>>> = [];
  try {
    // HEAD answers the stream's headers without opening one (nothing would ever read or end it).
    for (let i = 0; i < 3; i++) {
      const head = await fetch(url, { method: "HEAD" });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get("content-type"), "text/event-stream; charset=utf-8");
    }
    assert.equal(t.service.receivers[0]!.stats!()["clients"], 0);
    clients.push(await feedClient(url), await feedClient(url));
    const refused = await fetch(url);
    assert.equal(refused.status, 429);
    assert.deepEqual(await refused.json(), {
      error: "too_many_connections",
      message: "at most 2 feed connections per address",
    });
    await clients.shift()!.close();
    let admitted: Awaited<ReturnType<typeof feedClient>> | undefined;
    for (let attempt = 0; attempt < 100 && !admitted; attempt++) {
      admitted = await feedClient(url).catch(() => undefined);
      if (!admitted) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(admitted, "admitted once a page has closed");
    clients.push(admitted);
  } finally {
    for (const client of clients) await client.close();
    await t.close();
  }
});

Deno.test("one address flooding the read API gets 429 with Retry-After; agents' /ping is not held up", async () => {
  const t = await webService({ rateLimit: { perSecond: 5, burst: 10 } });
  try {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${t.base}/v1/nodes`);
      statuses.push(res.status);
      if (res.status === 429) {
        assert.equal(res.headers.get("retry-after"), "1");
        assert.equal((await res.json()).error, "rate_limited");
      } else await res.body?.cancel();
    }
    assert.ok(
      statuses.filter((s) => s === 200).length >= 10 && statuses.filter((s) => s === 200).length <= 13,
    );
    assert.ok(statuses.filter((s) => s === 429).length >= 27);
    // the page and the feed are limited too; the protocol routes are not
    assert.equal(await fetch(`${t.base}/`).then(async (r) => (await r.body?.cancel(), r.status)), 429);
    const ping = await fetch(`${t.base}/ping`, { method: "POST" });
    await ping.body?.cancel();
    assert.notEqual(ping.status, 429);
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await getJson(`${t.base}/v1/nodes`)).status, 200); // refilled
  } finally {
    await t.close();
  }
});

Deno.test("large read API answers never read: 429 past 32 MiB of them per address, given back when the clients go", async () => {
  // The rate limit off: it would refuse these large answers first (web_dashboard/api_test.ts).
  const t = await webService({ rateLimit: { perSecond: 0, burst: 1 } });
  const conns: Deno.Conn[] = [];
  try {
    // 1,000 nodes whose kept strings are at their 256-character bound, of characters JSON escapes
    // to six: /v1/nodes?limit=1000 is ~15 MB, more than a socket's buffers take from an unread answer.
    const long = "\u0001".repeat(256);
    for (let i = 0; i < 1000; i++) {
      const body = Object.fromEntries(Object.keys(information.body).map((key) => [key, long]));
      publishReport(t, `${i}`.padStart(4, "0").padEnd(256, "n"), { type: "information", body });
    }
    const page = await getJson(`${t.base}/v1/nodes?limit=1000`); // a reader gets all of it, whole
    assert.equal((page.body["nodes"] as unknown[]).length, 1000);
    const stats = () => t.service.receivers[0]!.stats!();
    const port = Number(new URL(t.base).port);
    const statuses: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(c);
      await c.write(new TextEncoder().encode("GET /v1/nodes?limit=1000 HTTP/1.1\r\nHost: x\r\n\r\n"));
      const head = new Uint8Array(512);
      const n = await c.read(head); // the status line comes at once; the rest is never read
      statuses.push(new TextDecoder().decode(head.subarray(0, n ?? 0)).split("\r\n")[0]!);
    }
    // Before: every one was answered and waited whole in memory (4 GB in 50 s of a real attack).
    const refused = statuses.filter((s) => s.includes(" 429 ")).length;
    assert.ok(refused >= 50, `${refused} of 60 refused: ${statuses.slice(-2)}`);
    assert.ok(stats()["unread_response_bytes"]! <= 32 * 2 ** 20, JSON.stringify(stats()));
    const other = await fetch(`${t.base}/v1/nodes?limit=1`); // small answers are not held back
    assert.equal(other.status, 200);
    await other.body?.cancel();
    for (const c of conns.splice(0)) c.close();
    await eventually(
      () => stats()["unread_response_bytes"] === 0 ? true : undefined,
      5000,
      "the bytes given back",
    );
    assert.equal((await getJson(`${t.base}/v1/nodes?limit=1000`)).status, 200);
    // HEAD gets the GET's headers and no body: before, its unread answer stayed counted for good.
    const full = await fetch(`${t.base}/v1/nodes?limit=1000`);
    const length = (await full.arrayBuffer()).byteLength;
    assert.equal(full.headers.get("content-length"), String(length));
    for (let i = 0; i < 4; i++) {
      const head = await fetch(`${t.base}/v1/nodes?limit=1000`, { method: "HEAD" });
      assert.equal(head.status, 200);
      // RFC 9110: the GET's length or none (was content-length: 0).
      assert.equal(head.headers.get("content-length"), String(length));
      await head.body?.cancel();
    }
    for (const path of ["/", "/assets/app.js"]) {
      const get = await fetch(`${t.base}${path}`);
      const bytes = (await get.arrayBuffer()).byteLength;
      const head = await fetch(`${t.base}${path}`, { method: "HEAD" });
      await head.body?.cancel();
      assert.equal(head.headers.get("content-length"), String(bytes), path);
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(stats()["unread_response_bytes"], 0);
    assert.equal((await getJson(`${t.base}/v1/nodes?limit=1000`)).status, 200);
  } finally {
    for (const c of conns) c.close();
    await t.close();
  }
});

Deno.test("public by default: page, feed and read API need no secret", async () => {
  const t = await webService({});
  try {
    assert.equal(await fetch(`${t.base}/`).then(async (r) => (await r.body?.cancel(), r.status)), 200);
    assert.equal((await getJson(`${t.base}/v1/nodes`)).status, 200);
    const client = await feedClient(`${t.base}/feed`);
    await eventually(() => client.frames.length >= 1 || undefined, 3000, "snapshot");
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("requireSecret: ?secret= is traded for an HttpOnly cookie; without either, 401 with the error shape", async () => {
  const t = await webService({ requireSecret: true });
  let client: Awaited<ReturnType<typeof feedClient>> | undefined;
  try {
    // Nothing presented, or a wrong secret, or a forged cookie: 401 everywhere but the assets.
    const refused: Array<[string, RequestInit]> = [
      ["/", {}],
      ["/v1/nodes", {}],
      ["/v1/nodes/n1", {}],
      ["/v1/nodes/n1/eth_stats?limit=0", {}],
      ["/v1/nodes/n1/system_stats", {}],
      ["/v1/blocks", {}],
      ["/feed", {}],
      ["/?secret=wrong", {}],
      ["/v1/nodes?secret=", {}],
      ["/feed?secret=wrong", {}],
      ["/", { headers: { cookie: `${ACCESS_COOKIE}=forged` } }],
      ["/v1/nodes", { headers: { cookie: `${ACCESS_COOKIE}=${t.wsSecret}` } }],
      ["/v1/nodes", { headers: { wssecret: t.wsSecret, authorization: `Bearer ${t.wsSecret}` } }],
    ];
    for (const [path, init] of refused) {
      const { status, body } = await getJson(`${t.base}${path}`, init);
      assert.equal(status, 401, path);
      assert.equal(body["error"], "unauthorized", path);
      assert.deepEqual(Object.keys(body).sort(), ["error", "message"]);
    }
    const asset = await fetch(`${t.base}/assets/app.js`);
    assert.equal(asset.status, 200, "assets are public");
    await asset.body?.cancel();

    // The page trades the secret for a cookie and drops it from the address.
    const login = await fetch(`${t.base}/?secret=${encodeURIComponent(t.wsSecret)}`, { redirect: "manual" });
    assert.equal(login.status, 303);
    assert.equal(login.headers.get("location"), "./");
    await login.body?.cancel();
    const setCookie = login.headers.get("set-cookie") ?? "";
    assert.match(setCookie, new RegExp(`^${ACCESS_COOKIE}=[A-Za-z0-9_-]{43};`));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Lax/);
    assert.match(setCookie, /Path=\//);
    assert.match(setCookie, /Max-Age=2592000/);
    assert.equal(setCookie.includes(t.wsSecret), false, "the cookie does not hold the secret");
    const cookie = setCookie.split(";")[0]!;

    for (const path of ["/", "/v1/nodes", "/v1/blocks", "/v1/nodes/n1/eth_stats"]) {
      const res = await fetch(`${t.base}${path}`, { headers: { cookie } });
      // History is 503 here (no Postgres), which shows access was granted.
      assert.ok([200, 503].includes(res.status), `${path} with the cookie: ${res.status}`);
      await res.body?.cancel();
    }
    // curl style: the secret as a query parameter on the API.
    const api = await getJson(`${t.base}/v1/nodes?secret=${encodeURIComponent(t.wsSecret)}`);
    assert.equal(api.status, 200);
    // A browser's EventSource sends the cookie (same origin).
    client = await feedClient(`${t.base}/feed`, { cookie });
    await eventually(() => client!.frames.length >= 1 || undefined, 3000, "snapshot");
    assert.equal(client.frames[0]!.type, "snapshot");
  } finally {
    await client?.close();
    await t.close();
  }
});

Deno.test("web read API: recent blocks (miners, gas, uncles), their propagation and the nodes' information come back after a restart (Postgres)", async () => {
  const pg = await startTestPostgres();
  const dataDir = await Deno.makeTempDir({ prefix: "poa-web-restart-" });
  const web = { id: "web", type: "web", subscribe: METRICS, persistIntervalMs: 100 };
  const start = () => startTestService({ postgres: { url: pg.url }, receivers: [web] }, {}, dataDir);
  let service: TestService | undefined;
  try {
    service = await start();
    const t0 = Date.now() - 60_000;
    for (let n = 1; n <= 12; n++) {
      for (const [agentId, delay] of [["a", 0], ["b", 400], ["c", 1500]] as const) {
        publishReport(service, agentId, {
          type: "block",
          body: { ...block.body, number: n, hash: `0x${n}`, miner: `0x${n % 3}` },
        }, { receivedAt: t0 + n * 5000 + delay });
      }
    }
    publishReport(service, "a", { type: "information", body: { name: "Node A", node: "Parity//v1.11.8" } });
    const stats = {
      active: true,
      mining: true,
      hashrate: 0,
      peers: 4,
      gasPrice: 1e9,
      uptime: 100,
      syncing: false,
    };
    publishReport(service, "a", { type: "statistics", body: stats });
    const wanted = (await getJson(`${service.base}/v1/blocks?limit=12`)).body;
    const histogram = (await getJson(`${service.base}/v1/propagation`)).body["network"];
    assert.equal((wanted["blocks"] as unknown[]).length, 12);
    assert.deepEqual((histogram as { counts: number[] }).counts, [12, 0, 12, 0, 12, 0, 0]);
    await service.stop(); // saves what changed since the last tick

    service = await start();
    // Read back in the background at start: within a few ticks.
    const deadline = Date.now() + 10_000;
    let got = (await getJson(`${service.base}/v1/blocks?limit=12`)).body;
    while ((got["blocks"] as unknown[]).length < 12 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      got = (await getJson(`${service.base}/v1/blocks?limit=12`)).body;
    }
    assert.deepEqual(got["blocks"], wanted["blocks"]);
    assert.deepEqual((await getJson(`${service.base}/v1/propagation`)).body["network"], histogram);
    assert.equal(service.service.receivers[0]!.stats!()["blocks_restored"], 12);
    // A node's first report after the restart shows it with its name, client and peers (a POA agent
    // sends its information only every 60 s, its statistics only when they change).
    assert.equal(service.service.receivers[0]!.stats!()["nodes_restored"], 1);
    publishReport(service, "a", { type: "latency", body: { latency: 3 } });
    const node = (await getJson(`${service.base}/v1/nodes/a`)).body["node"] as {
      last: { information?: Record<string, unknown>; statistics?: Record<string, unknown> };
    };
    assert.deepEqual(
      node.last.information,
      { name: "Node A", node: "Parity//v1.11.8" },
      JSON.stringify(node),
    );
    assert.deepEqual(node.last.statistics, stats, JSON.stringify(node));
  } finally {
    await service?.close();
    await pg.close();
  }
});

Deno.test("web: a go-ethereum node reorganised under it (only its new head reported): /v1/blocks shows the new branch, not the dead one", async () => {
  const secret = "shared-secret-for-reorg-test";
  const service = await webService({ maxBlocks: 20 }, {
    ethstats: { sharedSecret: secret, historyRequestLimit: 5 },
  });
  try {
    const hex = (n: number) => "0x" + n.toString(16).padStart(64, "0");
    const blockJson = (n: number, hash: string, parent: string) =>
      `{"number":${n},"hash":"${hash}","parentHash":"${parent}","timestamp":${
        1700000000 + n * 12
      },"miner":"0x${
        "ab".repeat(20)
      }","gasUsed":21000,"gasLimit":30000000,"difficulty":"0","totalDifficulty":"1","transactions":[],"transactionsRoot":"${
        hex(1)
      }","stateRoot":"${hex(2)}","uncles":[]}`;
    const old = (n: number) => blockJson(n, hex(n), hex(n - 1));
    const fresh = (n: number, parent = hex(n - 1 + 0xf000)) => blockJson(n, hex(n + 0xf000), parent);
    const ws = new WebSocket(`${service.base.replace("http", "ws")}/api`);
    const frames: string[] = [];
    ws.onmessage = (e) => frames.push(e.data);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    const send = (event: string, payload: string) => ws.send(`{"emit":["${event}",${payload}]}\n`);
    const asked = (list: number[]) =>
      eventually(
        () =>
          frames.some((f) =>
            f.startsWith('{"emit":["history"') && JSON.parse(f).emit[1].list.join() === list.join()
          ) || undefined,
        3000,
        `history request ${list}`,
      );
    send(
      "hello",
      `{"id":"geth-reorg","info":{"name":"geth-reorg","node":"Geth/v1.14.12-stable/linux-amd64/go1.23.4","port":30303,"net":"7","protocol":"eth/68","api":"No","os":"linux","os_v":"amd64","client":"0.1.1","canUpdateHistory":true},"secret":"${secret}"}`,
    );
    await eventually(() => frames.includes('{"emit":["ready"]}') || undefined, 3000, "ready");
    send("block", `{"block":${old(100)},"id":"geth-reorg"}`);
    await asked([95, 96, 97, 98, 99]);
    send("history", `{"history":[${[95, 96, 97, 98, 99].map(old).join(",")}],"id":"geth-reorg"}`);
    for (const n of [101, 102]) send("block", `{"block":${old(n)},"id":"geth-reorg"}`);
    // The reorganisation: geth's new head 103 on another branch; 101-102 it replaced are not reported.
    send("block", `{"block":${fresh(103)},"id":"geth-reorg"}`);
    await asked([102]);
    send("history", `{"history":[${fresh(102)}],"id":"geth-reorg"}`);
    await asked([101]);
    send("history", `{"history":[${fresh(101, hex(100))}],"id":"geth-reorg"}`);
    const hashes = await eventually(
      async () => {
        const { body } = await getJson(`${service.base}/v1/blocks?limit=4`);
        const list = (body["blocks"] as Rows).map((b) => [b["number"], b["hash"]]);
        return list[2]?.[1] === hex(101 + 0xf000) ? list : undefined;
      },
      3000,
      "the new branch in /v1/blocks",
    );
    assert.deepEqual(hashes, [[103, hex(103 + 0xf000)], [102, hex(102 + 0xf000)], [101, hex(101 + 0xf000)], [
      100,
      hex(100),
    ]]);
    ws.close();
  } finally {
    await service.close();
  }
});
