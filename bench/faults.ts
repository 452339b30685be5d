/**
 * `deno task faults`: minutes-long fault runs under simulated load (not in the test suite).
 * The service runs as `main.ts --config` on an embedded Postgres owned by this script; the
 * agents are bench/sim.ts in record mode, so every accepted (HTTP 200) ethereum statistics
 * report is known by agent and sequence number (sent as `hashrate`) and can be matched one to
 * one with the rows of `eth_stats`.
 *
 * 1. outage  — Postgres stopped for 30 s under load, then started: every accepted statistics
 *              report is in eth_stats exactly once.
 * 2. sigterm — SIGTERM under load: exit code 0, every accepted report delivered (eth_stats rows
 *              and a jsonl archive receiver, per agent and kind), nothing left spilled.
 * 3. sigkill — SIGKILL under load, then restart: what was acknowledged, what was lost, and
 *              whether the loss stays within what the service held in memory (README: a 200
 *              means "accepted into memory"; spilled and written items must survive).
 *
 * ```sh
 * deno task faults                      # all three (~5 minutes)
 * deno task faults --only outage --agents 300 --rate 2 --outage-s 30
 * ```
 */
import postgres from "postgres";
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import { BENCH_ADMIN, freePort, metric, scrapeMetrics, startServiceProcess } from "./process.ts";
import { runSimulation, type SimSummary } from "./sim.ts";

const SCENARIOS = ["outage", "sigterm", "sigkill"] as const;
type Scenario = typeof SCENARIOS[number];

const log = (line: string) => console.error(`[faults] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface FaultOptions {
  agents: number;
  rate: number;
  outageS: number;
  only: Set<Scenario>;
  keep: boolean;
}

function parseArgs(args: string[]): FaultOptions {
  const get = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const only = (get("only")?.split(",") ?? [...SCENARIOS]) as Scenario[];
  for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario ${s}`);
  return {
    // Enough traffic that a 30 s outage overflows the 10,000-item memory queue into spill files.
    agents: Number(get("agents") ?? 500),
    rate: Number(get("rate") ?? 2),
    outageS: Number(get("outage-s") ?? 30),
    only: new Set(only),
    keep: args.includes("--keep"),
  };
}

/** The config of the service under test: default receivers plus a jsonl archive of everything. */
function serviceConfig(dir: string, pgUrl: string): Record<string, unknown> {
  const all = ["ethereum_metrics", "networking_metrics", "system_metrics"];
  return {
    postgres: { url: pgUrl },
    shutdownTimeoutMs: 20_000,
    receivers: [
      { id: "dashboard", type: "dashboard", subscribe: all },
      { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
      { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
      { id: "archive", type: "jsonl", subscribe: all, path: `${dir}/archive.jsonl` },
    ],
  };
}

const DURABLE = ["eth_stats", "system_stats", "archive"];

/** Queue depth and spill backlog of each durable receiver, e.g. "eth_stats 0+0". */
function backlog(m: Map<string, number>): { total: number; text: string } {
  let total = 0;
  const parts: string[] = [];
  for (const r of DURABLE) {
    const q = metric(m, "poa_receiver_queue_depth", { receiver: r });
    const s = metric(m, "poa_receiver_spill_pending", { receiver: r });
    total += q + s;
    parts.push(`${r} ${q}+${s}`);
  }
  return { total, text: `queued+spilled: ${parts.join(", ")}` };
}

/** Waits until the durable receivers have nothing queued or spilled; `drained` false on timeout. */
async function waitDrained(
  base: string,
  timeoutMs: number,
): Promise<{ drained: boolean; text: string; trace: string[] }> {
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  let text = "no metrics";
  const trace: string[] = [];
  let nextTrace = t0;
  while (Date.now() < deadline) {
    try {
      const m = await scrapeMetrics(base);
      const b = backlog(m);
      text = b.text;
      if (Date.now() >= nextTrace) {
        nextTrace += 10_000;
        trace.push(`${((Date.now() - t0) / 1000).toFixed(0)} s: ${b.text.replace("queued+spilled: ", "")}`);
      }
      if (b.total === 0) {
        return { drained: true, text: `in ${((Date.now() - t0) / 1000).toFixed(1)} s`, trace };
      }
    } catch {
      // not up yet
    }
    await sleep(250);
  }
  return { drained: false, text, trace };
}

interface Comparison {
  accepted: number;
  uncertain: number;
  rows: number;
  missing: number;
  duplicates: number;
  phantoms: number;
  examples: string[];
}

/** Matches accepted statistics (agent, seq) with eth_stats rows (agent_id, hashrate). */
async function compareEthStats(sql: postgres.Sql, summary: SimSummary): Promise<Comparison> {
  const prefix = summary.agentIds[0]!.replace(/-\d+$/, "-");
  const rows = await sql<{ agent_id: string; hashrate: string; n: number }[]>`
    select agent_id, hashrate::text as hashrate, count(*)::int as n from eth_stats
    where agent_id like ${prefix + "%"} group by 1, 2`;
  const stored = new Map<string, number>();
  for (const r of rows) stored.set(`${r.agent_id}#${r.hashrate}`, r.n);
  const out: Comparison = {
    accepted: 0,
    uncertain: 0,
    rows: 0,
    missing: 0,
    duplicates: 0,
    phantoms: 0,
    examples: [],
  };
  for (const n of stored.values()) out.rows += n;
  const known = new Set<string>();
  for (const [agent, rec] of Object.entries(summary.records!)) {
    for (const seq of rec.statsAccepted) {
      out.accepted++;
      const key = `${agent}#${seq}`;
      known.add(key);
      const n = stored.get(key) ?? 0;
      if (n === 0) {
        out.missing++;
        if (out.examples.length < 5) out.examples.push(`missing ${key}`);
      }
    }
    for (const seq of rec.statsUncertain) {
      out.uncertain++;
      known.add(`${agent}#${seq}`);
    }
  }
  for (const [key, n] of stored) {
    if (n > 1) {
      out.duplicates += n - 1;
      if (out.examples.length < 5) out.examples.push(`${n}x ${key}`);
    }
    if (!known.has(key)) {
      out.phantoms++;
      if (out.examples.length < 5) out.examples.push(`not sent as accepted or uncertain: ${key}`);
    }
  }
  return out;
}

const KIND_OF: Record<string, string> = {
  "ethereum_metrics/information": "information",
  "ethereum_metrics/block": "block",
  "ethereum_metrics/pending": "pending",
  "ethereum_metrics/statistics": "statistics",
  "networking_metrics/latency": "latency",
  "system_metrics/statistics": "system_statistics",
};

/** Per (agent, kind): accepted ≤ archived ≤ accepted + uncertain. Returns mismatches. */
async function compareArchive(
  path: string,
  summary: SimSummary,
): Promise<{ lines: number; torn: number; mismatches: string[] }> {
  const counts = new Map<string, number>();
  let lines = 0;
  let torn = 0;
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    // no archive at all
  }
  for (const line of text.split("\n")) {
    if (!line) continue;
    let m: { agentId: string; dataType: string; data: { type?: string } };
    try {
      m = JSON.parse(line);
    } catch {
      torn++;
      continue;
    }
    lines++;
    const kind = KIND_OF[`${m.dataType}/${m.data?.type}`] ?? "other";
    const key = `${m.agentId}#${kind}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  const mismatches: string[] = [];
  for (const [agent, rec] of Object.entries(summary.records!)) {
    for (const kind of Object.values(KIND_OF)) {
      const accepted = rec.accepted[kind] ?? 0;
      const uncertain = rec.uncertain[kind] ?? 0;
      const got = counts.get(`${agent}#${kind}`) ?? 0;
      if (got < accepted || got > accepted + uncertain) {
        mismatches.push(`${agent} ${kind}: accepted ${accepted} (+${uncertain} uncertain), archived ${got}`);
      }
    }
  }
  return { lines, torn, mismatches };
}

interface Outcome {
  scenario: Scenario;
  pass: boolean;
  lines: string[];
}

function simOptions(o: FaultOptions, base: string, durationS: number, prefix: string, signal?: AbortSignal) {
  return {
    agents: o.agents,
    durationS,
    url: base,
    admin: `${BENCH_ADMIN.name}:${BENCH_ADMIN.password}`,
    users: Math.min(o.agents, 10),
    rate: o.rate,
    record: true,
    keepUsers: true,
    prefix,
    signal,
    timeoutMs: 5000,
    progress: (line: string, snap: { elapsedS: number }) => {
      if (snap.elapsedS % 5 === 0) log(`  ${line}`);
    },
  };
}

async function scenarioOutage(o: FaultOptions, work: string, pg: PgControl): Promise<Outcome> {
  const dir = `${work}/outage`;
  const svc = await startServiceProcess(dir, serviceConfig(dir, pg.url));
  const lines: string[] = [];
  try {
    const pre = 10;
    const post = 20;
    log(`outage: ${o.agents} agents at x${o.rate}; Postgres stops at ${pre} s for ${o.outageS} s`);
    const sim = runSimulation(simOptions(o, svc.base, pre + o.outageS + post, "outage"));
    await sleep(pre * 1000);
    await pg.stop();
    log("  Postgres stopped");
    const during = await sleep(o.outageS * 1000).then(() => scrapeMetrics(svc.base));
    await pg.start();
    log("  Postgres started again");
    const summary = await sim;
    const { drained, text: left, trace } = await waitDrained(svc.base, 180_000);
    const m = await scrapeMetrics(svc.base);
    const cmp = await compareEthStats(pg.sql, summary);
    const pass = drained && cmp.missing === 0 && cmp.duplicates === 0 && cmp.phantoms === 0 &&
      cmp.accepted > 0;
    lines.push(
      `sim: ${summary.ok}/${summary.sent} requests ok, ${summary.errors} errors (${
        JSON.stringify(summary.errorsByCause)
      }), p99 ${summary.latency.p99.toFixed(1)} ms`,
      `during the outage: eth_stats queue ${
        metric(during, "poa_receiver_queue_depth", { receiver: "eth_stats" })
      }, spilled ${metric(during, "poa_receiver_spilled_total", { receiver: "eth_stats" })}, retries ${
        metric(during, "poa_receiver_retries_total", { receiver: "eth_stats" })
      }`,
      `after: drained ${drained} (${left}); eth_stats rows_written ${
        metric(m, "poa_receiver_stat", { receiver: "eth_stats", stat: "rows_written" })
      }, spilled ${metric(m, "poa_receiver_spilled_total", { receiver: "eth_stats" })}, replayed ${
        metric(m, "poa_receiver_replayed_total", { receiver: "eth_stats" })
      }`,
      `accepted statistics ${cmp.accepted} (+${cmp.uncertain} uncertain), rows ${cmp.rows}: missing ${cmp.missing}, duplicates ${cmp.duplicates}, unexpected ${cmp.phantoms}`,
      ...cmp.examples.map((e) => `  e.g. ${e}`),
      `drain after the load stopped (queued+spilled per receiver):`,
      ...trace.map((t) => `  ${t}`),
    );
    return { scenario: "outage", pass, lines };
  } finally {
    await svc.stop();
  }
}

async function scenarioSigterm(o: FaultOptions, work: string, pg: PgControl): Promise<Outcome> {
  const dir = `${work}/sigterm`;
  const svc = await startServiceProcess(dir, serviceConfig(dir, pg.url));
  const lines: string[] = [];
  const controller = new AbortController();
  log(`sigterm: ${o.agents} agents at x${o.rate}; SIGTERM after 15 s`);
  const sim = runSimulation(simOptions(o, svc.base, 120, "sigterm", controller.signal));
  await sleep(15_000);
  const t0 = performance.now();
  svc.signal("SIGTERM");
  const status = await Promise.race([svc.status, sleep(60_000).then(() => null)]);
  const stopSeconds = (performance.now() - t0) / 1000;
  await sleep(1000); // the simulator sees refused connections after the exit
  controller.abort();
  const summary = await sim;
  if (status === null) {
    svc.signal("SIGKILL");
    await svc.status;
  }
  const spilled = await countSpilled(`${dir}/spill`);
  const cmp = await compareEthStats(pg.sql, summary);
  const archive = await compareArchive(`${dir}/archive.jsonl`, summary);
  const pass = status?.code === 0 && spilled === 0 && cmp.missing === 0 && cmp.duplicates === 0 &&
    cmp.phantoms === 0 && archive.mismatches.length === 0 && archive.torn === 0 && cmp.accepted > 0;
  lines.push(
    `exit code ${status?.code ?? "none (killed after 60 s)"} after ${
      stopSeconds.toFixed(1)
    } s; items left in spill files: ${spilled}`,
    `sim: ${summary.ok} accepted, ${summary.errors} errors after the listener closed (${
      JSON.stringify(summary.errorsByCause)
    }), ${summary.uncertain} uncertain`,
    `eth_stats: accepted statistics ${cmp.accepted} (+${cmp.uncertain} uncertain), rows ${cmp.rows}: missing ${cmp.missing}, duplicates ${cmp.duplicates}, unexpected ${cmp.phantoms}`,
    `archive (every kind, per agent): ${archive.lines} lines, ${archive.torn} torn, ${archive.mismatches.length} mismatches`,
    ...[...cmp.examples, ...archive.mismatches.slice(0, 5)].map((e) => `  e.g. ${e}`),
  );
  return { scenario: "sigterm", pass, lines };
}

async function scenarioSigkill(o: FaultOptions, work: string, pg: PgControl): Promise<Outcome> {
  const dir = `${work}/sigkill`;
  const config = serviceConfig(dir, pg.url);
  const svc = await startServiceProcess(dir, config);
  const lines: string[] = [];
  const controller = new AbortController();
  log(`sigkill: ${o.agents} agents at x${o.rate}; SIGKILL after 15 s, then restart`);
  const sim = runSimulation(simOptions(o, svc.base, 120, "sigkill", controller.signal));
  await sleep(14_000);
  // What the service holds in memory right before the kill.
  let last = { queue: 0, spillPending: 0, at: 0 };
  const scraping = (async () => {
    const until = performance.now() + 1000;
    while (performance.now() < until) {
      try {
        const m = await scrapeMetrics(svc.base);
        last = {
          queue: metric(m, "poa_receiver_queue_depth", { receiver: "eth_stats" }),
          spillPending: metric(m, "poa_receiver_spill_pending", { receiver: "eth_stats" }),
          at: performance.now(),
        };
      } catch { /* gone */ }
      await sleep(50);
    }
  })();
  await scraping;
  svc.signal("SIGKILL");
  const killedAt = performance.now();
  await svc.status;
  await sleep(500);
  controller.abort();
  const summary = await sim;
  const acceptedAfterScrape = summary.timeline.length > 0
    ? estimateAcceptedSince(summary, (killedAt - last.at) / 1000)
    : 0;

  log("  restarting on the same data directory (spill replay)");
  const again = await startServiceProcess(dir, config, { port: Number(new URL(svc.base).port) });
  try {
    const { drained, text: left } = await waitDrained(again.base, 120_000);
    const m = await scrapeMetrics(again.base);
    const cmp = await compareEthStats(pg.sql, summary);
    const bound = last.queue + acceptedAfterScrape;
    const pass = drained && cmp.duplicates === 0 && cmp.phantoms === 0 && cmp.missing <= bound;
    lines.push(
      `acknowledged (200) statistics ${cmp.accepted}, ${cmp.uncertain} in flight at the kill; rows ${cmp.rows}`,
      `lost: ${cmp.missing} (${
        (cmp.missing / Math.max(1, cmp.accepted) * 100).toFixed(2)
      } % of acknowledged); duplicates ${cmp.duplicates}, unexpected ${cmp.phantoms}`,
      `in memory at the last scrape ${
        (killedAt - last.at).toFixed(0)
      } ms before the kill: eth_stats queue ${last.queue}, spill pending ${last.spillPending}; ` +
        `bound on what may be lost ≈ ${bound} (queue + ~${acceptedAfterScrape} accepted since)`,
      `after restart: drained ${drained} (${left}), replayed ${
        metric(m, "poa_receiver_replayed_total", { receiver: "eth_stats" })
      } spilled item(s)`,
      ...cmp.examples.map((e) => `  e.g. ${e}`),
    );
    return { scenario: "sigkill", pass, lines };
  } finally {
    await again.stop();
  }
}

/** Accepted statistics per second near the end of the run × seconds (an estimate). */
function estimateAcceptedSince(summary: SimSummary, seconds: number): number {
  const stats = summary.byKind["statistics"]?.ok ?? 0;
  return Math.ceil(stats / Math.max(1, summary.durationS) * seconds) + 1;
}

async function countSpilled(dir: string): Promise<number> {
  let n = 0;
  try {
    for await (const receiver of Deno.readDir(dir)) {
      if (!receiver.isDirectory) continue;
      for await (const f of Deno.readDir(`${dir}/${receiver.name}`)) if (f.isFile) n++;
    }
  } catch {
    // no spill directory
  }
  return n;
}

interface PgControl {
  url: string;
  sql: postgres.Sql;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

async function startPg(dir: string): Promise<PgControl> {
  const port = freePort();
  let server: Awaited<ReturnType<typeof startEmbeddedPostgres>> | undefined = await startEmbeddedPostgres({
    dataDir: dir,
    port,
  });
  const url = server.url;
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  await migrate(sql);
  return {
    url,
    sql,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      server ??= await startEmbeddedPostgres({ dataDir: dir, port });
    },
    async close() {
      await sql.end({ timeout: 2 });
      await server?.stop();
    },
  };
}

async function main(): Promise<number> {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(
      `deno task faults [--only ${SCENARIOS.join(",")}] [--agents 500] [--rate 2] [--outage-s 30] [--keep]`,
    );
    return 0;
  }
  let o: FaultOptions;
  try {
    o = parseArgs(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-faults-" });
  await Deno.chmod(work, 0o755); // the embedded Postgres runs as OS user postgres when we are root
  const pg = await startPg(`${work}/postgres`);
  const outcomes: Outcome[] = [];
  try {
    const scenarios: Record<Scenario, () => Promise<Outcome>> = {
      outage: () => scenarioOutage(o, work, pg),
      sigterm: () => scenarioSigterm(o, work, pg),
      sigkill: () => scenarioSigkill(o, work, pg),
    };
    for (const s of SCENARIOS) {
      if (!o.only.has(s)) continue;
      try {
        outcomes.push(await scenarios[s]());
      } catch (err) {
        outcomes.push({ scenario: s, pass: false, lines: [`crashed: ${(err as Error).stack ?? err}`] });
      }
      await pg.start(); // in case a scenario left it stopped
    }
  } finally {
    await pg.close();
    if (!o.keep) await Deno.remove(work, { recursive: true }).catch(() => {});
    else log(`kept ${work}`);
  }
  console.log("");
  for (const out of outcomes) {
    console.log(`${out.pass ? "PASS" : "FAIL"}  ${out.scenario}`);
    for (const line of out.lines) console.log(`      ${line}`);
  }
  return outcomes.every((x) => x.pass) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main());
