/**
 * Load process for the ethstats benchmark (issue 7): N simulated go-ethereum `--ethstats`
 * nodes on websockets, speaking the frames geth sends. Run by bench.ts, never in the server's
 * process. Two modes:
 *
 * - `--mode paced` (geth's cadence): login (`hello` → `ready`), then, as geth's ethstats loop,
 *   a full report on each node's own ticker every `--interval` s (15): `node-ping` →
 *   `node-pong` → `latency`, `block`, `pending`, `stats`; and on every new head of a shared
 *   chain (every `--block-interval` s, 12) `block` + `pending` from every node, each within a
 *   second of the others. Measures the ping round-trip, pings over geth's 5 s timeout and
 *   connections the server dropped.
 * - `--mode flood`: each node sends `--burst` block/stats frames, then a `node-ping`, and waits
 *   for the pong before the next burst (frames on a socket are handled in order, so a pong
 *   proves the burst was processed): stats+block messages/s at saturation.
 *
 * Prints progress on stderr and `RESULT {json}` on stdout.
 */
import { Histogram } from "./histogram.ts";
import { flag, procStat } from "./process.ts";

/** What the load process reports. */
export interface EthstatsResult {
  mode: "paced" | "flood";
  nodes: number;
  loggedIn: number;
  loginFailures: number;
  /** Connections closed before `ready` (e.g. a 503/429 upgrade) and tried again. */
  connectRetries: number;
  /** Seconds from the first connect to the last `ready`. */
  loginSeconds: number;
  /** Sockets closed by the server or by an error after login. */
  dropped: number;
  /** node-pings not answered within 5 s (go-ethereum would reconnect). */
  pingTimeouts: number;
  pings: number;
  rtt: { p50Ms: number; p99Ms: number; maxMs: number };
  /** block + stats frames sent (paced) or acknowledged by a pong (flood). */
  reportMessages: number;
  /** All frames sent after login. */
  framesSent: number;
  measureSeconds: number;
  messagesPerSecond: number;
  historyRequests: number;
  /** Server CPU seconds and RSS over the measured window (when `--server-pid` is given). */
  serverCpuSeconds: number;
  serverRssMaxBytes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hash32(tag: number, n: number): string {
  let out = "0x";
  let h = (Math.imul(n ^ 0x5bd1e995, 0x27d4eb2d) ^ tag) >>> 0;
  for (let i = 0; i < 8; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h + i + n) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out;
}

/** A block as go-ethereum's ethstats `blockStats` marshals it. */
export function gethBlock(n: number): Record<string, unknown> {
  const txs = n % 7;
  return {
    number: n,
    hash: hash32(0xb10c, n),
    parentHash: hash32(0xb10c, n - 1),
    timestamp: 1_700_000_000 + n * 12,
    miner: "0x" + hash32(0x313e, n % 25).slice(2, 42),
    gasUsed: 21_000 * txs,
    gasLimit: 30_000_000,
    difficulty: "0",
    totalDifficulty: "58750003716598352816469",
    transactions: Array.from({ length: txs }, (_, i) => ({ hash: hash32(0x7e57 + i, n) })),
    transactionsRoot: hash32(0x7007, n),
    stateRoot: hash32(0x57a7, n),
    uncles: [],
  };
}

/** Block JSON by number: every node reports the same blocks, so each is serialized once. */
const blockJsonCache = new Map<number, string>();
function gethBlockJson(n: number): string {
  let json = blockJsonCache.get(n);
  if (json === undefined) {
    json = JSON.stringify(gethBlock(n));
    if (blockJsonCache.size >= 2000) blockJsonCache.delete(blockJsonCache.keys().next().value!);
    blockJsonCache.set(n, json);
  }
  return json;
}

/** The frame geth sends for a block: the bytes `JSON.stringify` would make, built from the cache. */
export function blockFrame(id: string, n: number): string {
  return `{"emit":["block",{"id":${JSON.stringify(id)},"block":${gethBlockJson(n)}}]}`;
}

/** The stats go-ethereum reports for a synced, non-mining node. */
export const GETH_STATS = {
  active: true,
  syncing: false,
  mining: false,
  hashrate: 0,
  peers: 25,
  gasPrice: 1_000_000_000,
  uptime: 100,
};
const STATS_JSON = JSON.stringify(GETH_STATS);

/** geth's stats frame, built around the constant stats object. */
export function statsFrame(id: string): string {
  return `{"emit":["stats",{"id":${JSON.stringify(id)},"stats":${STATS_JSON}}]}`;
}

interface Node {
  id: string;
  ws: WebSocket;
  ready: boolean;
  closed: boolean;
  pingSentAt: number;
  pingResolve: (() => void) | null;
}

/**
 * Calls `report` for each node at its own random moment within `spreadMs`, from one timer: ten
 * thousand timers armed at once stall this process for tens of milliseconds at every head, and
 * the pongs that arrive meanwhile would be measured late.
 */
export function spread<T>(nodes: readonly T[], spreadMs: number, report: (node: T) => void): Promise<void> {
  const due = nodes.map((node) => ({ node, at: Math.random() * spreadMs })).sort((a, b) => a.at - b.at);
  const start = performance.now();
  let next = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const now = performance.now() - start;
      while (next < due.length && due[next]!.at <= now) report(due[next++]!.node);
      if (next < due.length) setTimeout(tick, Math.max(1, due[next]!.at - now));
      else resolve();
    };
    tick();
  });
}

async function main(): Promise<void> {
  // Several addresses of one service (`--url http://127.0.0.1:P,http://127.0.0.2:P`): node i dials
  // the (i mod n)-th, so the load is not capped by one destination's ~28,000 ephemeral ports.
  const urls = flag("url").split(",").map((u) => u.replace(/^http/, "ws") + flag("path", "/api"));
  const mode = flag("mode", "paced") as "paced" | "flood";
  const nodesN = Number(flag("nodes", "100"));
  const secret = flag("secret");
  const durationS = Number(flag("duration", "60"));
  const intervalS = Number(flag("interval", "15"));
  const blockIntervalS = Number(flag("block-interval", "12"));
  const burst = Number(flag("burst", "50"));
  const connectPerSecond = Number(flag("connect-rate", "1000"));
  const serverPid = Number(flag("server-pid", "0"));
  const prefix = flag("prefix", `geth-${Math.random().toString(36).slice(2, 7)}`);

  const rtt = new Histogram();
  let loginFailures = 0;
  let dropped = 0;
  let pingTimeouts = 0;
  let pings = 0;
  let framesSent = 0;
  let reportMessages = 0;
  let historyRequests = 0;
  let loggedIn = 0;
  let connectRetries = 0;
  const nodes: Node[] = [];
  let head = 20_000_000;

  /** Sends one frame's text; false when the socket is gone. */
  const sendText = (node: Node, text: string) => {
    if (node.closed || node.ws.readyState !== WebSocket.OPEN) return false;
    node.ws.send(text);
    framesSent++;
    return true;
  };
  const send = (node: Node, name: string, payload: unknown) =>
    sendText(node, JSON.stringify({ emit: [name, payload] }));

  /**
   * One connection attempt: "ready", "refused" (un-authorization) or "closed" (the upgrade was
   * refused, e.g. 503/429 while the server's cap on sockets not logged in yet is reached, or
   * the socket closed before ready).
   */
  function attempt(i: number): Promise<"ready" | "refused" | "closed"> {
    const id = `${prefix}-${i}`;
    const ws = new WebSocket(urls[i % urls.length]!, { headers: { origin: "http://localhost" } });
    const node: Node = { id, ws, ready: false, closed: false, pingSentAt: 0, pingResolve: null };
    nodes.push(node);
    const done = Promise.withResolvers<"ready" | "refused" | "closed">();
    ws.onopen = () => {
      ws.send(JSON.stringify({
        emit: ["hello", {
          id,
          info: {
            name: id,
            node: "Geth/v1.14.11-stable/linux-amd64/go1.23.2",
            port: 30303,
            net: "1",
            protocol: "eth/68",
            api: "No",
            os: "linux",
            os_v: "amd64",
            client: "0.1.1",
            canUpdateHistory: true,
          },
          secret,
        }],
      }));
    };
    ws.onmessage = (e) => {
      const text = typeof e.data === "string" ? e.data : "";
      if (text.startsWith("primus::ping::")) {
        ws.send(text.replace("ping", "pong"));
        return;
      }
      let msg: { emit?: [string, Record<string, unknown>?] };
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      const name = msg.emit?.[0];
      if (name === "ready") {
        node.ready = true;
        loggedIn++;
        done.resolve("ready");
      } else if (name === "node-pong") {
        const rttMs = performance.now() - node.pingSentAt;
        rtt.record(rttMs);
        send(node, "latency", { id, latency: String(Math.round(rttMs / 2)) });
        const resolve = node.pingResolve;
        node.pingResolve = null;
        resolve?.();
      } else if (name === "history") {
        historyRequests++;
        const list = ((msg.emit?.[1] as { list?: number[] })?.list ?? []).slice(0, 50);
        send(node, "history", { id, history: list.map(gethBlock) });
      } else if (name === "un-authorization") {
        loginFailures++;
        done.resolve("refused");
      }
    };
    ws.onclose = () => {
      if (node.ready && !node.closed) dropped++;
      node.closed = true;
      done.resolve("closed");
      node.pingResolve?.();
    };
    ws.onerror = () => {};
    return done.promise;
  }

  /** Connects until logged in or refused, retrying a closed attempt after 1-2 s as geth does (after 10 s). */
  async function connect(i: number, deadline: number): Promise<void> {
    while ((await attempt(i)) === "closed" && performance.now() + 2000 < deadline) {
      connectRetries++;
      await sleep(1000 + Math.random() * 1000);
    }
  }

  /** node-ping → wait for node-pong (≤ 5 s, geth's timeout). */
  async function ping(node: Node): Promise<void> {
    node.pingSentAt = performance.now();
    const answered = new Promise<void>((resolve) => node.pingResolve = resolve);
    if (!send(node, "node-ping", { id: node.id, clientTime: new Date().toString() })) return;
    pings++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = await Promise.race([
      answered.then(() => false),
      new Promise<boolean>((r) => timer = setTimeout(() => r(true), 5000)),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      pingTimeouts++;
      node.pingResolve = null;
    }
  }

  /** On a new chain head: block and pending (geth's headCh case). */
  function headReport(node: Node, n: number): void {
    if (node.closed) return;
    sendText(node, blockFrame(node.id, n));
    send(node, "pending", { id: node.id, stats: { pending: (n * 7 + node.id.length) % 40 } });
    reportMessages += 1;
  }

  /** geth's report(): after the latency exchange, block, pending and stats. */
  function fullReport(node: Node, n: number): void {
    sendText(node, blockFrame(node.id, n));
    send(node, "pending", { id: node.id, stats: { pending: (n * 7 + node.id.length) % 40 } });
    sendText(node, statsFrame(node.id));
    reportMessages += 2;
  }

  // ---- login, ramped ----
  const loginStart = performance.now();
  const loginDeadlineAt = loginStart + 120_000;
  const logins: Promise<void>[] = [];
  for (let i = 0; i < nodesN; i++) {
    logins.push(connect(i, loginDeadlineAt));
    if ((i + 1) % Math.max(1, Math.floor(connectPerSecond / 20)) === 0) await sleep(50);
  }
  const loginDeadline = sleep(120_000);
  await Promise.race([Promise.all(logins), loginDeadline]);
  const loginSeconds = (performance.now() - loginStart) / 1000;
  console.error(
    `[ethstats] ${loggedIn}/${nodesN} nodes logged in in ${
      loginSeconds.toFixed(1)
    } s (${loginFailures} refused, ${connectRetries} connections retried)`,
  );

  const live = () => nodes.filter((n) => n.ready && !n.closed);
  if (mode === "paced") {
    // Warm-up: the first blocks after login make the server fill in its history (a few
    // 10-block requests per network); that belongs to login, not to the steady state below.
    const n = ++head;
    await spread(live(), 1000, (node) => headReport(node, n));
    await sleep(4000);
    rtt.reset();
    pings =
      pingTimeouts =
      framesSent =
      reportMessages =
        0;
  }

  const cpu0 = serverPid ? procStat(serverPid) : null;
  let rssMax = 0;
  const rssTimer = setInterval(() => {
    const s = serverPid ? procStat(serverPid) : null;
    if (s && s.rssBytes > rssMax) rssMax = s.rssBytes;
  }, 500);
  const t0 = performance.now();
  const end = t0 + durationS * 1000;

  if (mode === "paced") {
    // As go-ethereum's ethstats loop: a full report on each node's own 15 s ticker (started at
    // its login, so phases are spread), and on every new chain head a block + pending report
    // from every node within a second of each other.
    const tasks: Promise<void>[] = [];
    for (const node of live()) {
      tasks.push((async () => {
        await sleep(Math.random() * intervalS * 1000);
        while (performance.now() < end && !node.closed) {
          const started = performance.now();
          await ping(node);
          fullReport(node, head);
          await sleep(Math.max(0, intervalS * 1000 - (performance.now() - started)));
        }
      })());
    }
    let nextBlockAt = t0 + Math.random() * blockIntervalS * 1000;
    let lastProgress = t0;
    while (performance.now() < end) {
      if (performance.now() >= nextBlockAt) {
        const n = ++head;
        tasks.push(spread(live(), 1000, (node) => headReport(node, n)));
        nextBlockAt += blockIntervalS * 1000;
      }
      if (performance.now() - lastProgress > 5000) {
        lastProgress = performance.now();
        console.error(
          `[ethstats] ${
            ((lastProgress - t0) / 1000).toFixed(0)
          } s  nodes ${live().length}  pings ${pings}  ` +
            `p99 ${rtt.quantile(0.99).toFixed(1)} ms  timeouts ${pingTimeouts}  dropped ${dropped}`,
        );
      }
      await sleep(Math.max(1, Math.min(200, nextBlockAt - performance.now())));
    }
    await Promise.race([Promise.all(tasks), sleep(10_000)]);
  } else {
    let acknowledged = 0;
    await Promise.all(
      live().map(async (node) => {
        let k = 0;
        while (performance.now() < end && !node.closed) {
          for (let i = 0; i < burst; i++) {
            const n = head + (k++ % 1000);
            sendText(node, i % 2 === 0 ? blockFrame(node.id, n) : statsFrame(node.id));
          }
          const before = pingTimeouts;
          await ping(node);
          if (pingTimeouts === before && !node.closed) acknowledged += burst;
        }
      }),
    );
    reportMessages = acknowledged;
  }
  const measureSeconds = (performance.now() - t0) / 1000;
  clearInterval(rssTimer);
  const cpu1 = serverPid ? procStat(serverPid) : null;

  const result: EthstatsResult = {
    mode,
    nodes: nodesN,
    loggedIn,
    loginFailures,
    connectRetries,
    loginSeconds,
    dropped,
    pingTimeouts,
    pings,
    rtt: { p50Ms: rtt.quantile(0.5), p99Ms: rtt.quantile(0.99), maxMs: rtt.max },
    reportMessages,
    framesSent,
    measureSeconds,
    messagesPerSecond: reportMessages / measureSeconds,
    historyRequests,
    serverCpuSeconds: cpu0 && cpu1 ? cpu1.cpuS - cpu0.cpuS : 0,
    serverRssMaxBytes: rssMax,
  };
  for (const node of nodes) {
    node.closed = true;
    try {
      node.ws.close();
    } catch {
      // already closed
    }
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
  Deno.exit(0);
}

if (import.meta.main) await main();
