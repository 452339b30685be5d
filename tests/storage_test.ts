/**
 * Storage receivers through the whole service: outages of Postgres and DynamoDB while agents
 * keep reporting, and spilled data replayed after a restart — every row exactly once.
 */
import assert from "node:assert/strict";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { block, statisticsSynced, systemStatistics } from "./support/fixtures.ts";
import { waitFor } from "./support/harness.ts";
import { startDynalite } from "./support/dynalite.ts";
import { startTestPostgres } from "./support/postgres.ts";
import { agentSession } from "./support/agent.ts";
import { startTestService } from "./support/service.ts";

/** Sends one report; true when the service answered 200 (accepted). */
async function report(
  base: string,
  token: string,
  id: string,
  type: string,
  data: unknown,
): Promise<boolean> {
  const res = await fetch(`${base}/data`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ id, type, data }),
  });
  await res.body?.cancel();
  return res.status === 200;
}

Deno.test("Postgres stopped while statistics keep arriving: after it is back every accepted row is there exactly once", async () => {
  const pg = await startTestPostgres();
  const t = await startTestService({
    postgres: { url: pg.url },
    receivers: [
      { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
      { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
    ],
  });
  try {
    const token = await agentSession(t.base);
    let accepted = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        if (await report(t.base, token, `agent-${accepted % 5}`, "ethereum_metrics", statisticsSynced)) {
          accepted++;
        }
      }
    };
    await send(50);
    await waitFor(() => (t.service.runners[0]!.stats().delivered_total === 50), 10_000, "first rows");
    await pg.stop();
    await send(300); // accepted while the database is down
    const runner = t.service.runners[0]!;
    await waitFor(() => runner.stats().errors_total > 0, 10_000, "a failed write");
    await pg.start();
    await send(50);
    await waitFor(() => runner.stats().delivered_total === accepted, 30_000, "every row delivered");
    assert.equal(accepted, 400);
    const [counts] = await pg.sql<
      { rows: number; ids: number }[]
    >`select count(*)::int as rows, count(distinct msg_id)::int as ids from eth_stats`;
    const { rows, ids } = counts!;
    assert.equal(rows, 400);
    assert.equal(ids, 400);
    assert.ok(runner.stats().retries_total > 0);
    // system_metrics still work next to it.
    assert.ok(await report(t.base, token, "host", "system_metrics", systemStatistics));
    await waitFor(() => t.service.runners[1]!.stats().delivered_total === 1, 10_000, "system row");
  } finally {
    await t.close();
    await pg.close();
  }
});

Deno.test("dynalite stopped and started under load: every block stored once", async () => {
  const dyn = await startDynalite();
  const t = await startTestService({
    receivers: [{
      id: "blocks",
      type: "dynamodb",
      subscribe: ["ethereum_metrics"],
      endpoint: dyn.endpoint,
      region: "us-east-1",
      table: "netstat_test",
      accessKeyId: "test",
      secretAccessKey: "test",
    }],
  });
  const client = new DynamoDBClient({
    endpoint: dyn.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    const token = await agentSession(t.base);
    const runner = t.service.runners[0]!;
    let accepted = 0;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const body = { ...block.body, number: 1000 + accepted };
        if (await report(t.base, token, "miner", "ethereum_metrics", { type: "block", body })) accepted++;
      }
    };
    await send(30);
    await waitFor(() => runner.stats().delivered_total === 30, 10_000, "first blocks");
    await dyn.stop();
    await send(100);
    await waitFor(() => runner.stats().errors_total > 0, 10_000, "a failed write");
    await dyn.start();
    await send(20);
    await waitFor(() => runner.stats().delivered_total === accepted, 30_000, "every block");
    const numbers: number[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      // deno-lint-ignore no-explicit-any
      const page: any = await client.send(
        new ScanCommand({ TableName: "netstat_test", ExclusiveStartKey: start as never }),
      );
      for (const item of page.Items ?? []) numbers.push(Number(item.payload.M.block.M.number.N));
      start = page.LastEvaluatedKey;
    } while (start);
    assert.equal(numbers.length, 150);
    assert.equal(new Set(numbers).size, 150);
  } finally {
    client.destroy();
    await t.close();
    await dyn.close();
  }
});

Deno.test("a restart replays what a shutdown spilled while Postgres was down", async () => {
  const pg = await startTestPostgres();
  const dataDir = await Deno.makeTempDir({ prefix: "poa-spill-" });
  const config = {
    postgres: { url: pg.url },
    shutdownTimeoutMs: 300,
    receivers: [{ id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] }],
  };
  try {
    const first = await startTestService(config, {}, dataDir);
    const token = await agentSession(first.base);
    await pg.stop();
    let accepted = 0;
    for (let i = 0; i < 120; i++) {
      if (await report(first.base, token, `a${i % 3}`, "ethereum_metrics", statisticsSynced)) accepted++;
    }
    await first.stop(); // the drain times out: the queue goes to dataDir/spill/eth_stats
    const spilled = [...Deno.readDirSync(`${dataDir}/spill/eth_stats`)];
    assert.ok(spilled.length > 0, "spill files written");
    await pg.start();
    const second = await startTestService(config, {}, dataDir);
    try {
      await waitFor(() => second.service.runners[0]!.stats().delivered_total === accepted, 30_000, "replay");
      const [counted] = await pg.sql<{ rows: number }[]>`select count(*)::int as rows from eth_stats`;
      const rows = counted!.rows;
      assert.equal(rows, accepted);
      await waitFor(
        () => [...Deno.readDirSync(`${dataDir}/spill/eth_stats`)].length === 0,
        5000,
        "spill emptied",
      );
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
    await pg.close();
  }
});

Deno.test("Postgres down and eth_stats's spill buffer at its bound: /data is 503 overloaded with Retry-After, blocks still pass, every 200 is a row once", async () => {
  const pg = await startTestPostgres();
  const t = await startTestService({
    postgres: { url: pg.url },
    // 20 items in memory, 30 waiting for a spill write that a far flush timer holds back.
    queue: { maxItems: 20, maxSpillBuffer: 30, spillFlushMs: 600_000 },
    receivers: [{ id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] }],
  });
  try {
    const token = await agentSession(t.base);
    const runner = t.service.runners[0]!;
    const post = (data: unknown) =>
      fetch(`${t.base}/data`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "agent", type: "ethereum_metrics", data }),
      });
    await waitFor(() => runner.stats().queue_depth === 0, 10_000, "receiver ready");
    await pg.stop();
    let accepted = 0;
    for (let i = 0; i < 50; i++) {
      const res = await post(statisticsSynced);
      await res.body?.cancel();
      assert.equal(res.status, 200);
      accepted++;
    }
    const refused = await post(statisticsSynced);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "1");
    const body = await refused.json();
    assert.equal(body.error, "overloaded");
    assert.match(body.message, /eth_stats/);
    // eth_stats does not store blocks: they are filtered at publish time, not refused.
    const blockRes = await post(block);
    await blockRes.body?.cancel();
    assert.equal(blockRes.status, 200);

    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    for (
      const line of [
        'poa_bus_pushes_total{outcome="full"} 1',
        'poa_bus_pushes_total{outcome="filtered"} 1',
        'poa_receiver_refused_total{receiver="eth_stats"} 1',
        'poa_receiver_filtered_total{receiver="eth_stats"} 1',
        'poa_receiver_spill_buffered{receiver="eth_stats"} 30',
        'poa_http_requests_total{method="POST",route="/data",status="503"} 1',
      ]
    ) assert.ok(metrics.includes(line), `missing: ${line}`);

    await pg.start();
    // Once the sink is back the queue empties and the agent's retry is taken.
    let retried = false;
    for (let attempt = 0; attempt < 100 && !retried; attempt++) {
      const res = await post(statisticsSynced);
      await res.body?.cancel();
      if (res.status === 200) retried = true;
      else await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(retried, "the retried report was accepted");
    accepted++;
    await waitFor(() => runner.stats().delivered_total === accepted, 30_000, "every accepted row");
    const [counts] = await pg.sql<{ rows: number; ids: number }[]>`
      select count(*)::int as rows, count(distinct msg_id)::int as ids from eth_stats`;
    assert.deepEqual(counts, { rows: accepted, ids: accepted });
  } finally {
    await t.close();
    await pg.close();
  }
});
