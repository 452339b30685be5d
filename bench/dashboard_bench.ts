/**
 * The web dashboard page with many nodes, in Debian's Chromium: how long its renders take, how
 * smooth it stays (animation frames, long tasks) and how many bytes per second the feed sends
 * one page, at 1,000 and 10,000 nodes reporting on go-ethereum's cadence.
 *
 * The service runs in this process (web receiver only, blocks kept in memory); the reports go
 * straight onto its bus, stamped as the ingress would: the protocol path is measured elsewhere.
 */
import { chromium } from "playwright-core";
import { parseConfig } from "../core/config.ts";
import { builtinReceiverTypes } from "../receivers/registry.ts";
import { startService } from "../service.ts";
import { Histogram } from "./histogram.ts";
import { BENCH_ADMIN } from "./process.ts";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"];
/** go-ethereum's ethstats cadence: full stats every 15 s; a block every 5 s here, reported by every node. */
const STATS_EVERY_MS = 15_000;
const BLOCK_EVERY_MS = 5000;
/** Nodes report a new block over this long (their propagation). */
const BLOCK_SPREAD_MS = 1500;
const TICK_MS = 100;

export interface DashboardBenchOptions {
  nodes: number[];
  /** Seconds measured per node count, after the page has its snapshot and a warm-up. */
  durationS: number;
  work: string;
  log(line: string): void;
}

export interface DashboardRow {
  nodes: number;
  /** Reports published per second (statistics, latency, blocks). */
  reportsPerSecond: number;
  snapshotBytes: number;
  /** Feed bytes per second one page received (update frames). */
  feedBytesPerSecond: number;
  framesPerSecond: number;
  /** The page's render() (charts, header, chain panel, windowed table), per render. */
  renderMs: { p50: number; p99: number; max: number };
  renders: number;
  /** requestAnimationFrame callbacks per second (60 when never blocked) and the longest gap. */
  animationFps: number;
  longestFrameMs: number;
  /** Tasks over 50 ms in the page (the browser's Long Tasks API). */
  longTasks: number;
  /** Table rows in the DOM (the table is windowed). */
  domRows: number;
}

interface PageProbe {
  renderMs: number[];
  frames: number;
  longestFrameMs: number;
  longTasks: number;
  /** The feed's events as the page's EventSource gets them: the snapshot (its parts), then updates. */
  snapshotBytes: number;
  feedBytes: number;
  feedFrames: number;
}

/** Runs in the page before its script: collects render times, animation frames and long tasks. */
function installProbe(): void {
  const g = globalThis as unknown as {
    __probe: PageProbe;
    EventSource: typeof EventSource;
    TextEncoder: typeof TextEncoder;
    PerformanceObserver: typeof PerformanceObserver;
    MutationObserver: new (cb: () => void) => { observe(node: unknown, options: unknown): void };
    document: {
      body: { dataset: Record<string, string> } | null;
      addEventListener(e: string, f: () => void): void;
    };
    requestAnimationFrame(cb: (t: number) => void): void;
  };
  const probe: PageProbe = {
    renderMs: [],
    frames: 0,
    longestFrameMs: 0,
    longTasks: 0,
    snapshotBytes: 0,
    feedBytes: 0,
    feedFrames: 0,
  };
  g.__probe = probe;
  // The page reads its own stream (as without SharedWorker), where this probe can count it.
  Object.assign(g, { SharedWorker: undefined });
  const encoder = new g.TextEncoder();
  const Native = g.EventSource;
  g.EventSource = class extends Native {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, init);
      this.addEventListener("message", (e) => {
        const size = encoder.encode(e.data).byteLength;
        if (e.data.startsWith('{"type":"update"')) {
          probe.feedBytes += size;
          probe.feedFrames++;
        } else probe.snapshotBytes += size; // the snapshot, or its parts header and parts
      });
    }
  };
  new g.PerformanceObserver((list) => probe.longTasks += list.getEntries().length)
    .observe({ entryTypes: ["longtask"] });
  let last = 0;
  const frame = (t: number) => {
    if (last > 0) probe.longestFrameMs = Math.max(probe.longestFrameMs, t - last);
    last = t;
    probe.frames++;
    g.requestAnimationFrame(frame);
  };
  g.requestAnimationFrame(frame);
  g.document.addEventListener("DOMContentLoaded", () => {
    const body = g.document.body!;
    new g.MutationObserver(() => probe.renderMs.push(Number(body.dataset["renderMs"])))
      .observe(body, { attributes: true, attributeFilter: ["data-renders"] });
  });
}

function blockBody(number: number) {
  const transactions = Array.from({ length: number % 17 }, (_, i) => `0x${number.toString(16)}${i}`);
  return {
    number,
    hash: `0x${number.toString(16).padStart(64, "0")}`,
    parentHash: `0x${(number - 1).toString(16).padStart(64, "0")}`,
    timestamp: Math.floor(Date.now() / 1000),
    miner: `0x${String(number % 5).repeat(40)}`,
    gasUsed: 21_000 * transactions.length,
    gasLimit: 8_000_000,
    difficulty: "131072",
    transactions,
    uncles: [],
  };
}

async function measure(nodes: number, o: DashboardBenchOptions): Promise<DashboardRow> {
  const dir = await Deno.makeTempDir({ dir: o.work, prefix: "dashboard-" });
  const service = await startService(
    parseConfig({
      listen: [{ hostname: "127.0.0.1", port: 0 }],
      admins: [BENCH_ADMIN],
      jwt: { secret: "a-bench-secret-of-enough-length" },
      kv: { path: `${dir}/poa.kv` },
      dataDir: dir,
      postgres: { url: "postgres://nobody:nothing@127.0.0.1:1/none" }, // not used: persistence off
      receivers: [{
        id: "web",
        type: "web",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
        persistBlocks: false,
        maxNodes: Math.max(10_000, nodes),
      }],
    }),
    { receiverTypes: builtinReceiverTypes(), log: () => {}, env: {} },
  );
  const base = `http://127.0.0.1:${service.listeners[0]!.port}`;
  let published = 0;
  const publish = (agentId: string, dataType: string, data: Record<string, unknown>) => {
    published++;
    service.bus.publish({
      id: crypto.randomUUID(),
      agentId,
      dataType,
      messageType: "data",
      data,
      receivedAt: Date.now(),
    });
  };
  const statistics = (i: number) => ({
    type: "statistics",
    body: {
      active: true,
      mining: i % 20 === 0,
      hashrate: 0,
      peers: 10 + i % 40,
      gasPrice: 1e9,
      syncing: false,
    },
  });
  for (let i = 0; i < nodes; i++) {
    publish(`node-${i}`, "ethereum_metrics", {
      type: "information",
      body: { name: `Node ${i}`, node: "Geth/v1.14.11-stable/linux-amd64/go1.23.2", coinbase: `0x${i}` },
    });
    publish(`node-${i}`, "ethereum_metrics", statistics(i));
  }
  let head = 1_000_000;
  let block = blockBody(head);
  let tick = 0;
  const ticksPerBlock = BLOCK_EVERY_MS / TICK_MS;
  const spreadTicks = BLOCK_SPREAD_MS / TICK_MS;
  const load = setInterval(() => {
    tick++;
    const phase = tick % ticksPerBlock;
    if (phase === 0) {
      head++;
      block = blockBody(head);
    }
    if (phase < spreadTicks) {
      // Every node reports the new block (one shared body, as the ingress shares equal blocks).
      const per = Math.ceil(nodes / spreadTicks);
      for (let i = phase * per; i < Math.min(nodes, (phase + 1) * per); i++) {
        publish(`node-${i}`, "ethereum_metrics", { type: "block", body: block });
      }
    }
    const perTick = nodes * TICK_MS / STATS_EVERY_MS;
    for (let k = 0; k < perTick; k++) {
      const i = Math.floor((tick * perTick + k) % nodes);
      publish(`node-${i}`, "ethereum_metrics", statistics(i + tick));
      publish(`node-${i}`, "networking_metrics", { type: "latency", body: { latency: (i * tick) % 300 } });
    }
  }, TICK_MS);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1680, height: 920 } });
    await page.addInitScript(installProbe);
    await page.goto(`${base}/`);
    await page.waitForFunction(
      (want) =>
        (globalThis as unknown as { document: { querySelector(s: string): { textContent: string } } })
          .document.querySelector("#active-nodes").textContent === want,
      `${nodes}/${nodes}`,
      { timeout: 60_000 },
    );
    await page.waitForTimeout(BLOCK_EVERY_MS); // warm-up: one block round
    const reset = () =>
      page.evaluate(() => {
        const p = (globalThis as unknown as { __probe: PageProbe }).__probe;
        p.renderMs = [];
        p.frames = 0;
        p.longestFrameMs = 0;
        p.longTasks = 0;
        p.feedBytes = 0;
        p.feedFrames = 0;
      });
    await reset();
    const publishedBefore = published;
    const started = performance.now();
    await page.waitForTimeout(o.durationS * 1000);
    const seconds = (performance.now() - started) / 1000;
    const probe = await page.evaluate(() => (globalThis as unknown as { __probe: PageProbe }).__probe);
    const domRows = await page.locator("#nodes tbody tr[data-node]").count();
    const renders = new Histogram();
    for (const ms of probe.renderMs) renders.record(ms);
    const row: DashboardRow = {
      nodes,
      reportsPerSecond: (published - publishedBefore) / seconds,
      snapshotBytes: probe.snapshotBytes,
      feedBytesPerSecond: probe.feedBytes / seconds,
      framesPerSecond: probe.feedFrames / seconds,
      renderMs: { p50: renders.quantile(0.5), p99: renders.quantile(0.99), max: renders.max },
      renders: renders.count,
      animationFps: probe.frames / seconds,
      longestFrameMs: probe.longestFrameMs,
      longTasks: probe.longTasks,
      domRows,
    };
    o.log(
      `  ${nodes} nodes: render p50 ${row.renderMs.p50.toFixed(1)} ms p99 ${
        row.renderMs.p99.toFixed(1)
      } ms, ` +
        `${(row.feedBytesPerSecond / 1024).toFixed(0)} KB/s feed, ${row.animationFps.toFixed(0)} fps, ` +
        `${row.longTasks} long tasks`,
    );
    return row;
  } finally {
    clearInterval(load);
    await browser.close();
    await service.shutdown();
  }
}

/** Each node count in turn, same load model. */
export async function benchDashboard(o: DashboardBenchOptions): Promise<{ rows: DashboardRow[] }> {
  const rows: DashboardRow[] = [];
  for (const nodes of o.nodes) rows.push(await measure(nodes, o));
  return { rows };
}
