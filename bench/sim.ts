/**
 * Simulated agents speaking the POA protocol through the real endpoints, at the original
 * agent's cadence (all periods divided by `--rate`):
 *
 * - `POST /ping` every 3 s, and a `latency` report (networking_metrics) after each ping,
 *   carrying the measured round-trip;
 * - `information` at start and every 60 s;
 * - `block` from ONE shared chain (a new block roughly every 5 s; numbers, hashes and parent
 *   hashes consistent across agents), each agent seeing it 20–800 ms after it was made;
 * - `pending` when the agent's pending count changes (checked on each new block);
 * - ethereum `statistics` every 5 s and `system_metrics` statistics every 5 s.
 *
 * One scheduler loop drives every agent (a heap of due events, no timer per agent); requests
 * go over keep-alive connections with a raw HTTP/1.1 client (bench/http_client.ts), at most
 * one request in flight per connection, so concurrency is bounded by `--connections`
 * (default: one connection per agent, as real agents have).
 *
 * ```sh
 * deno task sim --url http://127.0.0.1:4000 --admin-password-file data/admin-password --agents 100
 * deno task sim --user node1:a-long-password --agents 10 --encoding msgpack --rate 5
 * ```
 *
 * `runSimulation(options)` runs it in-process and returns the summary (the bench uses it).
 */
import { Encoder } from "@msgpack/msgpack";
import process from "node:process";
import { formatMs, Histogram } from "./histogram.ts";
import { buildRequest, HttpConnection, HttpError, type HttpResponse, parseBase } from "./http_client.ts";

/** Options of {@link runSimulation}. */
export interface SimOptions {
  /** Number of agents (default 10). */
  agents?: number;
  /** Seconds to run (default 60). */
  durationS?: number;
  /** Base URL of the service (default http://127.0.0.1:4000). */
  url?: string;
  /** `name:password` of an admin: the simulation creates its own users (and deletes them after). */
  admin?: string;
  /** `name:password` of an existing agent user (instead of `admin`). */
  user?: string;
  /** Users created with `admin`, shared round-robin by the agents (default min(agents, 100)). */
  users?: number;
  /** Body encoding (default json). */
  encoding?: "json" | "msgpack";
  /** Cadence multiplier: 2 means every period is halved (default 1). */
  rate?: number;
  /** Keep-alive connections (default: one per agent, at most 20,000). */
  connections?: number;
  /**
   * Worker threads of this process sharing the agents, each with its own scheduler loop and
   * connections (default: one per 3,000 agents, at most one per core).
   */
  workers?: number;
  /** Agent id prefix (default "sim-<random>"). */
  prefix?: string;
  /** Seconds over which agents start (default: one ping period). */
  rampS?: number;
  /**
   * Seconds at the start (agents connecting and starting) kept out of the headline figures;
   * reported separately as `warmup`. The run lasts `warmupS + durationS` (default 0).
   */
  warmupS?: number;
  /** A request without an answer after this long fails as a timeout (default 10,000 ms). */
  timeoutMs?: number;
  /** Requests queued per connection beyond which new ones are dropped as "backlog" (default 200). */
  maxQueuePerConnection?: number;
  /**
   * Keep per-agent accounting of accepted reports: counts per kind, and the sequence numbers
   * of ethereum statistics (sent as `hashrate`, so rows in eth_stats can be matched exactly).
   */
  record?: boolean;
  /** Send `/bye` for every agent at the end (default false). */
  bye?: boolean;
  /** Keep the users created with `admin` (default false: they are deleted at the end). */
  keepUsers?: boolean;
  /** Progress: a function receiving one line per second, or true for stderr (default false). */
  progress?: boolean | ((line: string, snapshot: SimSnapshot) => void);
  /** Stops the run early. */
  signal?: AbortSignal;
  /** Seed of the random numbers (default random). */
  seed?: number;
}

/** Progress of a running simulation, once per second. */
export interface SimSnapshot {
  elapsedS: number;
  sent: number;
  ok: number;
  errors: number;
  inFlight: number;
  /** Requests answered in the last second. */
  perSecond: number;
  /** Latency of the last second's answers (from the scheduled time), ms. */
  p50: number;
  p99: number;
}

/** Per-agent accounting (with `record`). */
export interface AgentRecord {
  /** Accepted (HTTP 200) reports by kind. */
  accepted: Record<string, number>;
  /** Reports whose outcome is unknown (connection lost after sending), by kind. */
  uncertain: Record<string, number>;
  /** Sequence numbers (= hashrate) of accepted ethereum statistics. */
  statsAccepted: number[];
  /** Sequence numbers of ethereum statistics with an unknown outcome. */
  statsUncertain: number[];
}

/** What a simulation did. */
export interface SimSummary {
  agents: number;
  users: number;
  connections: number;
  workers: number;
  encoding: "json" | "msgpack";
  rate: number;
  /** Seconds measured (after the warm-up). */
  durationS: number;
  /** Requests written (after the warm-up). */
  sent: number;
  ok: number;
  errors: number;
  /** Errors by cause: `http_<status>`, `connect`, `io`, `timeout`, `backlog`. */
  errorsByCause: Record<string, number>;
  /** Requests whose outcome is unknown (may have been accepted). */
  uncertain: number;
  /** Sent and accepted requests by kind. */
  byKind: Record<string, { sent: number; ok: number }>;
  requestsPerSecond: number;
  /** Latency from the scheduled time to the answer (includes any client-side queueing), ms. */
  latency: LatencySummary;
  /** Latency from writing the request to the answer, ms. */
  wire: LatencySummary;
  /** The warm-up (`warmupS`), kept out of the figures above. */
  warmup: {
    seconds: number;
    sent: number;
    ok: number;
    errors: number;
    errorsByCause: Record<string, number>;
    latency: LatencySummary;
  };
  /** Blocks made by the shared chain, and its head. */
  chain: { blocks: number; head: number };
  /** Per-second progress. */
  timeline: SimSnapshot[];
  /** CPU the simulator's own process used during the run, % of one core. */
  simulatorCpuPercent: number;
  /** Agent ids, in order. */
  agentIds: string[];
  /** With `record`: accounting by agent id. */
  records?: Record<string, AgentRecord>;
}

export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** Cadence of the original agent, in ms (before `rate`). */
export const CADENCE = {
  pingMs: 3_000,
  informationMs: 60_000,
  blockMs: 5_000,
  statisticsMs: 5_000,
  systemMs: 5_000,
} as const;

const KINDS = [
  "ping",
  "latency",
  "information",
  "block",
  "pending",
  "statistics",
  "system_statistics",
  "bye",
] as const;
type Kind = typeof KINDS[number];

/** Scheduled events (heap entries carry the number). */
const Ev = { Ping: 0, Information: 1, Statistics: 2, System: 3, Block: 4 } as const;

/** xorshift128+ style generator: fast, seedable, good enough for load shapes. */
function createRandom(seed: number): () => number {
  let s0 = (seed ^ 0x9e3779b9) >>> 0 || 1;
  let s1 = (seed * 2654435761) >>> 0 || 2;
  return () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    s1 = x >>> 0;
    return ((s0 + s1) >>> 0) / 4294967296;
  };
}

/** 32 bytes of hex derived from (tag, n): stable across agents, so hashes agree. */
function hash32(tag: number, n: number): string {
  let out = "0x";
  let h = (Math.imul(n ^ 0x5bd1e995, 0x27d4eb2d) ^ tag) >>> 0;
  for (let i = 0; i < 8; i++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
    h = (h ^ Math.imul(h ^ (h >>> 12), 0x297a2d39)) >>> 0;
    h = (h + i + n) >>> 0;
    out += h.toString(16).padStart(8, "0");
  }
  return out;
}

interface Block {
  number: number;
  madeAt: number;
  data: Record<string, unknown>;
  json: string;
  msgpack: Uint8Array;
}

/** The one chain every agent follows. */
class Chain {
  head: number;
  made = 0;
  readonly blocks = new Map<number, Block>();
  #td: bigint;
  #encoder: Encoder;
  #random: () => number;

  /** Date.now() at the simulation's start: block timestamps derive from it, equal in every worker. */
  #startEpoch: number;

  constructor(random: () => number, encoder: Encoder, startEpoch: number) {
    this.#random = random;
    this.#encoder = encoder;
    this.#startEpoch = startEpoch;
    this.head = 5_000_000 + Math.floor(random() * 1_000_000);
    this.#td = 1_322_920_283_192_874_716_307_958_298_519_232_612_302n;
  }

  /** Makes the next block at `now` (ms after the start). */
  next(now: number): Block {
    const n = ++this.head;
    this.made++;
    this.#td += 340282366920938463463374607431768211454n;
    const txs = Math.floor(this.#random() * 12);
    const transactions: string[] = [];
    for (let i = 0; i < txs; i++) transactions.push(hash32(0x7e57 + i, n));
    const body = {
      number: n,
      hash: hash32(0xb10c, n),
      parentHash: hash32(0xb10c, n - 1),
      timestamp: Math.floor((this.#startEpoch + now) / 1000),
      miner: "0x" + hash32(0x313e, n % 25).slice(2, 42),
      gasUsed: 21_000 * txs,
      gasLimit: 8_000_000,
      difficulty: "340282366920938463463374607431768211454",
      totalDifficulty: this.#td.toString(),
      transactions,
      transactionsRoot: hash32(0x7007, n),
      stateRoot: hash32(0x57a7, n),
      uncles: [],
    };
    const data = { type: "block", body };
    const block: Block = {
      number: n,
      madeAt: now,
      data,
      json: JSON.stringify(data),
      msgpack: this.#encoder.encode(data).slice(),
    };
    this.blocks.set(n, block);
    this.blocks.delete(n - 16);
    return block;
  }
}

/** A binary min-heap of due events, in parallel arrays (no object per event). */
class EventHeap {
  #t: number[] = [];
  #agent: number[] = [];
  #ev: number[] = [];
  #arg: number[] = [];

  get size(): number {
    return this.#t.length;
  }

  peekTime(): number {
    return this.#t.length > 0 ? this.#t[0]! : Infinity;
  }

  push(t: number, agent: number, ev: number, arg = 0): void {
    const ts = this.#t;
    let i = ts.length;
    ts.push(t);
    this.#agent.push(agent);
    this.#ev.push(ev);
    this.#arg.push(arg);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (ts[p]! <= t) break;
      this.#swap(i, p);
      i = p;
    }
  }

  /** Removes the earliest event into `out`. */
  pop(out: { t: number; agent: number; ev: number; arg: number }): void {
    const ts = this.#t;
    out.t = ts[0]!;
    out.agent = this.#agent[0]!;
    out.ev = this.#ev[0]!;
    out.arg = this.#arg[0]!;
    const last = ts.length - 1;
    this.#swap(0, last);
    ts.pop();
    this.#agent.pop();
    this.#ev.pop();
    this.#arg.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < ts.length && ts[l]! < ts[m]!) m = l;
      if (r < ts.length && ts[r]! < ts[m]!) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(a: number, b: number): void {
    for (const arr of [this.#t, this.#agent, this.#ev, this.#arg]) {
      const x = arr[a]!;
      arr[a] = arr[b]!;
      arr[b] = x;
    }
  }
}

interface Job {
  kind: Kind;
  agent: number;
  bytes: Uint8Array;
  scheduledAt: number;
  onOk?: (res: HttpResponse, wireMs: number) => void;
  seq?: number;
}

/** A connection with its FIFO of jobs; one request in flight at a time. */
class Lane {
  readonly jobs: Job[] = [];
  head = 0;
  running = false;
  constructor(readonly http: HttpConnection) {}
  get depth(): number {
    return this.jobs.length - this.head;
  }
}

interface AgentState {
  id: string;
  user: number;
  lane: number;
  seenHead: number;
  pending: number;
  statsSeq: number;
  uptimeStart: number;
  mining: boolean;
  syncing: boolean;
  peers: number;
}

interface UserState {
  name: string;
  password: string;
  token: string;
  /** Epoch seconds. */
  exp: number;
  refreshing: boolean;
}

function splitCredentials(value: string, flag: string): { name: string; password: string } {
  const colon = value.indexOf(":");
  if (colon <= 0) throw new Error(`${flag} must be name:password`);
  return { name: value.slice(0, colon), password: value.slice(colon + 1) };
}

function tokenExp(token: string): number {
  try {
    const payload = token.split(".")[1]!.replaceAll("-", "+").replaceAll("_", "/");
    const exp = JSON.parse(atob(payload + "=".repeat((4 - payload.length % 4) % 4))).exp;
    return typeof exp === "number" ? exp : Infinity;
  } catch {
    return Infinity;
  }
}

function basic(name: string, password: string): string {
  return "Basic " + btoa(`${name}:${password}`);
}

function latencySummary(h: Histogram): LatencySummary {
  return {
    p50: h.quantile(0.5),
    p90: h.quantile(0.9),
    p99: h.quantile(0.99),
    p999: h.quantile(0.999),
    max: h.max,
    mean: h.mean(),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Settings of one slice of agents: what a worker needs (plain data, structured-cloneable). */
export interface AgentSlice {
  /** Agents `from` (inclusive) to `to` (exclusive) of the whole simulation. */
  from: number;
  to: number;
  worker: number;
  url: string;
  encoding: "json" | "msgpack";
  rate: number;
  connections: number;
  durationMs: number;
  warmupMs: number;
  rampMs: number;
  timeoutMs: number;
  maxQueue: number;
  seed: number;
  prefix: string;
  record: boolean;
  bye: boolean;
  users: UserState[];
  /** Date.now() at which every slice starts (so the shared chain's blocks line up). */
  startAtEpoch: number;
}

/** One second of a slice's progress. */
export interface SliceSecond {
  elapsedS: number;
  warmup: boolean;
  sent: number;
  ok: number;
  errors: number;
  inFlight: number;
  perSecond: number;
  hist: HistogramJson;
}

type HistogramJson = ReturnType<Histogram["toJSON"]>;

interface PhaseJson {
  sent: number;
  ok: number;
  errors: number;
  uncertain: number;
  errorsByCause: Record<string, number>;
  byKind: Record<string, { sent: number; ok: number }>;
  latency: HistogramJson;
  wire: HistogramJson;
}

/** What one slice did. */
export interface SliceResult {
  warm: PhaseJson;
  main: PhaseJson;
  measuredMs: number;
  chain: { blocks: number; head: number };
  agentIds: string[];
  records?: Record<string, AgentRecord>;
}

async function login(control: HttpConnection, host: string, u: UserState): Promise<void> {
  const res = await control.request(
    buildRequest("POST", "/session", host, { authorization: basic(u.name, u.password) }),
  );
  const text = new TextDecoder().decode(res.body);
  if (res.status !== 200) throw new Error(`POST /session for ${u.name}: ${res.status} ${text}`);
  u.token = JSON.parse(text).token;
  u.exp = tokenExp(u.token);
}

/**
 * Runs one slice of the agents with one scheduler loop (in the calling thread: the whole
 * simulation, or one worker of it).
 */
export async function simulateAgents(
  p: AgentSlice,
  hooks: { signal?: AbortSignal; onSecond?: (second: SliceSecond) => void } = {},
): Promise<SliceResult> {
  const base = parseBase(p.url);
  const agentsN = p.to - p.from;
  const connectionsN = Math.max(1, Math.min(p.connections, agentsN));
  const { encoding, rate, timeoutMs, maxQueue, record, warmupMs, durationMs, rampMs } = p;
  const users = p.users.map((u) => ({ ...u, refreshing: false }));
  const random = createRandom(p.seed + 7919 * (p.worker + 1));
  const chainRandom = createRandom(p.seed ^ 0x5eed);
  const msgpack = new Encoder();
  const contentType = encoding === "json" ? "application/json" : "application/msgpack";
  const encode = (value: unknown): Uint8Array | string =>
    encoding === "json" ? JSON.stringify(value) : msgpack.encode(value).slice();
  const control = new HttpConnection(base.hostname, base.port);

  // ---- agents, lanes, chain ----
  const agents: AgentState[] = [];
  for (let i = p.from; i < p.to; i++) {
    agents.push({
      id: `${p.prefix}-${i}`,
      user: i % users.length,
      lane: (i - p.from) % connectionsN,
      seenHead: 0,
      pending: Math.floor(random() * 20),
      statsSeq: 0,
      uptimeStart: 0,
      mining: i % 3 === 0,
      syncing: i % 20 === 19,
      peers: 5 + Math.floor(random() * 40),
    });
  }
  const lanes = Array.from(
    { length: connectionsN },
    () => new Lane(new HttpConnection(base.hostname, base.port)),
  );
  const chain = new Chain(chainRandom, msgpack, p.startAtEpoch);
  const records: Record<string, AgentRecord> | undefined = record ? {} : undefined;
  if (records) {
    for (const a of agents) {
      records[a.id] = { accepted: {}, uncertain: {}, statsAccepted: [], statsUncertain: [] };
    }
  }

  /** Counters of one phase: warm-up (agents starting) or the measured run after it. */
  const newPhase = () => ({
    sent: 0,
    ok: 0,
    errors: 0,
    uncertain: 0,
    errorsByCause: {} as Record<string, number>,
    byKind: Object.fromEntries(KINDS.map((k) => [k, { sent: 0, ok: 0 }])) as Record<
      Kind,
      { sent: number; ok: number }
    >,
    latency: new Histogram(),
    wire: new Histogram(),
  });
  const warm = newPhase();
  const main = newPhase();
  let phase = warmupMs > 0 ? warm : main;
  let inFlight = 0;
  const second = new Histogram();
  let answeredThisSecond = 0;

  /** A request counts in the phase it was sent in (or failed to be sent in). */
  const fail = (job: Job, cause: string, isUncertain: boolean, ph = phase) => {
    ph.errors++;
    ph.errorsByCause[cause] = (ph.errorsByCause[cause] ?? 0) + 1;
    if (isUncertain) {
      ph.uncertain++;
      if (records) {
        const r = records[agents[job.agent]!.id]!;
        r.uncertain[job.kind] = (r.uncertain[job.kind] ?? 0) + 1;
        if (job.seq !== undefined) r.statsUncertain.push(job.seq);
      }
    }
  };

  async function pump(lane: Lane): Promise<void> {
    lane.running = true;
    while (lane.head < lane.jobs.length) {
      const job = lane.jobs[lane.head]!;
      lane.jobs[lane.head++] = undefined as unknown as Job;
      if (lane.head > 64 && lane.head * 2 > lane.jobs.length) {
        lane.jobs.splice(0, lane.head);
        lane.head = 0;
      }
      inFlight++;
      const start = performance.now();
      const ph = phase;
      ph.sent++;
      ph.byKind[job.kind].sent++;
      try {
        const res = await lane.http.request(job.bytes);
        const end = performance.now();
        answeredThisSecond++;
        const total = end - job.scheduledAt;
        ph.latency.record(total);
        second.record(total);
        ph.wire.record(end - start);
        if (res.status === 200) {
          ph.ok++;
          ph.byKind[job.kind].ok++;
          if (records) {
            const r = records[agents[job.agent]!.id]!;
            r.accepted[job.kind] = (r.accepted[job.kind] ?? 0) + 1;
            if (job.seq !== undefined) r.statsAccepted.push(job.seq);
          }
          job.onOk?.(res, end - start);
        } else {
          fail(job, `http_${res.status}`, false, ph);
          if (res.status === 401) {
            const u = users[agents[job.agent]!.user]!;
            u.exp = 0; // refresh on the next loop turn
          }
        }
      } catch (err) {
        const e = err instanceof HttpError ? err : new HttpError("io", true, String(err));
        fail(job, e.kind, e.uncertain, ph);
      } finally {
        inFlight--;
      }
    }
    lane.jobs.length = 0;
    lane.head = 0;
    lane.running = false;
  }

  function submit(
    agentIndex: number,
    kind: Kind,
    path: string,
    body: Uint8Array | string,
    scheduledAt: number,
    extra?: Partial<Job>,
  ): void {
    const agent = agents[agentIndex]!;
    const lane = lanes[agent.lane]!;
    const job: Job = {
      kind,
      agent: agentIndex,
      scheduledAt,
      bytes: buildRequest("POST", path, base.host, {
        authorization: `Bearer ${users[agent.user]!.token}`,
        "content-type": contentType,
      }, body),
      ...extra,
    };
    if (lane.depth >= maxQueue) {
      fail(job, "backlog", false);
      return;
    }
    lane.jobs.push(job);
    if (!lane.running) pump(lane);
  }

  const dataBody = (agent: AgentState, type: string, data: unknown) => encode({ id: agent.id, type, data });

  /** A /data body around a pre-encoded block (the same bytes for every agent). */
  function blockBody(agent: AgentState, block: Block): Uint8Array | string {
    if (encoding === "json") {
      return `{"id":${JSON.stringify(agent.id)},"type":"ethereum_metrics","data":${block.json}}`;
    }
    const head = msgpack.encode({ id: agent.id, type: "ethereum_metrics" });
    // Rewrite the 2-entry fixmap header as 3 entries and append "data": <block>.
    const key = msgpack.encode("data");
    const out = new Uint8Array(head.byteLength + key.byteLength + block.msgpack.byteLength);
    out.set(head);
    out[0] = 0x83;
    out.set(key, head.byteLength);
    out.set(block.msgpack, head.byteLength + key.byteLength);
    return out;
  }

  function information(index: number, agent: AgentState): Record<string, unknown> {
    return {
      type: "information",
      body: {
        name: agent.id,
        contact: "ops@example.org",
        // The first 25 agents are the validators whose addresses sign the blocks (`miner` above),
        // so the dashboard names the miners after them; the others have coinbases of their own.
        coinbase: "0x" + hash32(p.from + index < 25 ? 0x313e : 0xc01b, p.from + index).slice(2, 42),
        node: "Parity-Ethereum//v2.0.5-stable/x86_64-linux-gnu/rustc1.29.0",
        net: "77",
        protocol: "63",
        api: "0.4.1",
        port: 30303,
        os: "linux",
        os_v: "4.15.0",
        client: "0.1.0",
        canUpdateHistory: true,
      },
    };
  }

  function fire(i: number, ev: number, arg: number, at: number): void {
    const agent = agents[i]!;
    switch (ev) {
      case Ev.Ping:
        submit(i, "ping", "/ping", encode({ id: agent.id }), at, {
          onOk: (_res, wireMs) => {
            if (stopped) return;
            const body = dataBody(agent, "networking_metrics", {
              type: "latency",
              body: { latency: Math.round(wireMs * 100) / 100 },
            });
            submit(i, "latency", "/data", body, performance.now());
          },
        });
        break;
      case Ev.Information:
        submit(i, "information", "/data", dataBody(agent, "ethereum_metrics", information(i, agent)), at);
        break;
      case Ev.Statistics: {
        const seq = ++agent.statsSeq;
        const syncing = agent.syncing
          ? {
            currentBlock: "0x" + Math.max(0, agent.seenHead - 3).toString(16),
            highestBlock: "0x" + chain.head.toString(16),
            startingBlock: "0x0",
          }
          : false;
        agent.peers = Math.max(1, Math.min(50, agent.peers + Math.floor(random() * 3) - 1));
        const data = {
          type: "statistics",
          body: {
            active: true,
            mining: agent.mining,
            // The sequence number of this report, so stored rows can be matched one to one.
            hashrate: record ? seq : agent.mining ? 25 : 0,
            peers: agent.peers,
            gasPrice: 1_000_000_000,
            syncing,
            uptime: 100,
          },
        };
        submit(
          i,
          "statistics",
          "/data",
          dataBody(agent, "ethereum_metrics", data),
          at,
          record ? { seq } : {},
        );
        break;
      }
      case Ev.System: {
        const data = {
          type: "statistics",
          body: {
            cpu_load: Math.round(random() * 400) / 100,
            memory_usage: Math.round((40 + random() * 50) * 100) / 100,
            disk_usage: 50 + Math.floor(random() * 40),
          },
        };
        submit(i, "system_statistics", "/data", dataBody(agent, "system_metrics", data), at);
        break;
      }
      case Ev.Block: {
        const block = chain.blocks.get(arg);
        if (!block || block.number <= agent.seenHead) break;
        agent.seenHead = block.number;
        submit(i, "block", "/data", blockBody(agent, block), at);
        const pending = random() < 0.6 ? Math.floor(random() * 30) : agent.pending;
        if (pending !== agent.pending) {
          agent.pending = pending;
          const body = dataBody(agent, "ethereum_metrics", { type: "pending", body: { pending } });
          submit(i, "pending", "/data", body, at);
        }
        break;
      }
    }
  }

  let stopped = false;
  const periods: Record<number, number> = {
    [Ev.Ping]: CADENCE.pingMs / rate,
    [Ev.Information]: CADENCE.informationMs / rate,
    [Ev.Statistics]: CADENCE.statisticsMs / rate,
    [Ev.System]: CADENCE.systemMs / rate,
  };

  // ---- the scheduler loop ----
  const heap = new EventHeap();
  // Every worker shares the start instant, so the one chain's blocks come at the same times.
  const t0 = performance.now() + (p.startAtEpoch - Date.now());
  while (performance.now() < t0) await sleep(Math.min(50, t0 - performance.now()));
  let measureStart = t0;
  const end = t0 + warmupMs + durationMs;
  for (let i = 0; i < agentsN; i++) {
    const start = t0 + random() * rampMs;
    heap.push(start, i, Ev.Information);
    heap.push(start + random() * periods[Ev.Ping]!, i, Ev.Ping);
    heap.push(start + random() * periods[Ev.Statistics]!, i, Ev.Statistics);
    heap.push(start + random() * periods[Ev.System]!, i, Ev.System);
  }
  const blockEvery = CADENCE.blockMs / rate;
  let nextBlockAt = t0 + chainRandom() * blockEvery;
  let nextSecond = t0 + 1000;
  let nextTimeoutScan = t0 + 250;
  let nextTokenCheck = t0 + 1000;
  const ev = { t: 0, agent: 0, ev: 0, arg: 0 };
  const refreshTokens = () => {
    const nowS = Date.now() / 1000;
    for (const u of users) {
      if (u.refreshing || u.exp === Infinity) continue;
      const ttl = u.exp - nowS;
      if (ttl > 60) continue;
      u.refreshing = true;
      login(control, base.host, u).catch((err) =>
        console.error(`sim: token refresh for ${u.name} failed: ${err.message}`)
      )
        .finally(() => u.refreshing = false);
    }
  };

  while (!hooks.signal?.aborted) {
    const now = performance.now();
    if (now >= end) break;
    if (phase === warm && now >= t0 + warmupMs) {
      phase = main;
      measureStart = now;
    }
    while (nextBlockAt <= now) {
      const block = chain.next(nextBlockAt - t0);
      for (let i = 0; i < agentsN; i++) {
        heap.push(nextBlockAt + (20 + random() * 780) / rate, i, Ev.Block, block.number);
      }
      nextBlockAt += blockEvery * (0.8 + chainRandom() * 0.4);
    }
    while (heap.peekTime() <= now) {
      heap.pop(ev);
      fire(ev.agent, ev.ev, ev.arg, ev.t);
      const period = periods[ev.ev];
      if (period !== undefined) heap.push(ev.t + period, ev.agent, ev.ev);
    }
    if (now >= nextTimeoutScan) {
      nextTimeoutScan = now + 250;
      for (const lane of lanes) {
        if (lane.http.busySince > 0 && now - lane.http.busySince > timeoutMs) lane.http.abort();
      }
    }
    if (now >= nextTokenCheck) {
      nextTokenCheck = now + 1000;
      refreshTokens();
    }
    if (now >= nextSecond) {
      nextSecond += 1000;
      hooks.onSecond?.({
        elapsedS: Math.round((now - t0) / 1000),
        warmup: phase === warm,
        sent: warm.sent + main.sent,
        ok: warm.ok + main.ok,
        errors: warm.errors + main.errors,
        inFlight,
        perSecond: answeredThisSecond,
        hist: second.toJSON(),
      });
      second.reset();
      answeredThisSecond = 0;
    }
    const wait = Math.min(heap.peekTime(), nextBlockAt, nextSecond, end) - performance.now();
    await sleep(Math.max(1, Math.min(50, wait)));
  }
  stopped = true;
  const elapsed = performance.now() - measureStart;

  // Let the requests in flight finish (bounded), then say bye if asked.
  const drainUntil = performance.now() + timeoutMs + 1000;
  while (lanes.some((l) => l.running) && performance.now() < drainUntil) {
    for (const lane of lanes) {
      if (lane.http.busySince > 0 && performance.now() - lane.http.busySince > timeoutMs) lane.http.abort();
    }
    await sleep(20);
  }
  if (p.bye && !hooks.signal?.aborted) {
    for (let i = 0; i < agentsN; i++) {
      submit(i, "bye", "/bye", encode({ id: agents[i]!.id }), performance.now());
    }
    const byeUntil = performance.now() + timeoutMs + 1000;
    while (lanes.some((l) => l.running) && performance.now() < byeUntil) await sleep(20);
  }
  // Reports still queued behind a busy connection never went out: the agents fell behind.
  for (const lane of lanes) {
    for (let i = lane.head; i < lane.jobs.length; i++) fail(lane.jobs[i]!, "backlog_at_end", false);
    lane.jobs.length = 0;
    lane.head = 0;
    lane.http.close();
  }
  control.close();
  const phaseJson = (x: typeof main): PhaseJson => ({
    ...x,
    latency: x.latency.toJSON(),
    wire: x.wire.toJSON(),
  });
  return {
    warm: phaseJson(warm),
    main: phaseJson(main),
    measuredMs: elapsed,
    chain: { blocks: chain.made, head: chain.head },
    agentIds: agents.map((a) => a.id),
    ...(records ? { records } : {}),
  };
}

/** Runs simulated agents against a service and returns what happened. */
export async function runSimulation(options: SimOptions = {}): Promise<SimSummary> {
  const agentsN = options.agents ?? 10;
  const durationMs = (options.durationS ?? 60) * 1000;
  const url = options.url ?? "http://127.0.0.1:4000";
  const base = parseBase(url);
  const encoding = options.encoding ?? "json";
  const rate = options.rate ?? 1;
  if (!(rate > 0)) throw new Error("rate must be positive");
  if (!(agentsN >= 1)) throw new Error("agents must be at least 1");
  const connectionsN = Math.max(1, Math.min(options.connections ?? agentsN, agentsN, 20_000));
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const prefix = options.prefix ?? `sim-${seed.toString(36)}`;
  const warmupMs = (options.warmupS ?? 0) * 1000;
  const cores = navigator.hardwareConcurrency || 1;
  const workersN = Math.max(1, Math.min(options.workers ?? Math.ceil(agentsN / 3000), cores, agentsN));

  // ---- users and tokens ----
  const control = new HttpConnection(base.hostname, base.port);
  const controlRequest = async (
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ) => {
    const res = await control.request(buildRequest(method, path, base.host, headers, body));
    return { status: res.status, text: new TextDecoder().decode(res.body) };
  };
  const users: UserState[] = [];
  let createdUsers = false;
  try {
    if (options.user) {
      const { name, password } = splitCredentials(options.user, "--user");
      users.push({ name, password, token: "", exp: 0, refreshing: false });
    } else if (options.admin) {
      const admin = splitCredentials(options.admin, "--admin");
      const n = Math.max(1, Math.min(options.users ?? Math.min(agentsN, 100), agentsN));
      for (let i = 0; i < n; i++) {
        const name = `${prefix}-u${i}`.slice(0, 64);
        const password = crypto.randomUUID();
        const res = await controlRequest("POST", "/user", {
          authorization: basic(admin.name, admin.password),
          "content-type": "application/json",
        }, JSON.stringify({ "user-name": name, password }));
        if (res.status !== 200) throw new Error(`POST /user ${name}: ${res.status} ${res.text}`);
        createdUsers = true;
        users.push({ name, password, token: "", exp: 0, refreshing: false });
      }
    } else {
      throw new Error("give --admin name:password (to create users) or --user name:password");
    }
    for (const u of users) await login(control, base.host, u);
  } catch (err) {
    control.close();
    throw err;
  }

  // ---- slices: one per worker (or this thread alone), starting once every worker is loaded ----
  const workers = workersN > 1 ? await loadWorkers(workersN) : [];
  const startAtEpoch = Date.now() + 50;
  const slices: AgentSlice[] = [];
  for (let w = 0; w < workersN; w++) {
    const from = Math.floor(agentsN * w / workersN);
    const to = Math.floor(agentsN * (w + 1) / workersN);
    slices.push({
      from,
      to,
      worker: w,
      url,
      encoding,
      rate,
      connections: Math.max(1, Math.round(connectionsN * (to - from) / agentsN)),
      durationMs,
      warmupMs,
      rampMs: (options.rampS ?? CADENCE.pingMs / 1000 / rate) * 1000,
      timeoutMs: options.timeoutMs ?? 10_000,
      maxQueue: options.maxQueuePerConnection ?? 200,
      seed,
      prefix,
      record: options.record ?? false,
      bye: options.bye ?? false,
      users,
      startAtEpoch,
    });
  }

  const timeline: SimSnapshot[] = [];
  const progress = options.progress === true
    ? (line: string) => {
      if (Deno.stderr.isTerminal()) Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[K${line}`));
      else if (timeline.length % 5 === 0) console.error(line);
    }
    : typeof options.progress === "function"
    ? options.progress
    : undefined;
  const pendingSeconds = new Map<number, SliceSecond[]>();
  const onSecond = (s: SliceSecond) => {
    const list = pendingSeconds.get(s.elapsedS) ?? [];
    list.push(s);
    pendingSeconds.set(s.elapsedS, list);
    if (list.length < workersN) return;
    pendingSeconds.delete(s.elapsedS);
    const hist = new Histogram();
    for (const x of list) hist.merge(Histogram.fromJSON(x.hist));
    const sum = (f: (x: SliceSecond) => number) => list.reduce((n, x) => n + f(x), 0);
    const snap: SimSnapshot = {
      elapsedS: s.elapsedS,
      sent: sum((x) => x.sent),
      ok: sum((x) => x.ok),
      errors: sum((x) => x.errors),
      inFlight: sum((x) => x.inFlight),
      perSecond: sum((x) => x.perSecond),
      p50: hist.quantile(0.5),
      p99: hist.quantile(0.99),
    };
    timeline.push(snap);
    progress?.(
      `[sim] ${snap.elapsedS}/${Math.round((warmupMs + durationMs) / 1000)} s${
        s.warmup ? " (warm-up)" : ""
      }  ` +
        `agents ${agentsN}  sent ${snap.sent}  errors ${snap.errors}  last second: ${snap.perSecond} answered, p50 ${
          formatMs(snap.p50)
        }  ` +
        `p99 ${formatMs(snap.p99)}  in flight ${snap.inFlight}`,
      snap,
    );
  };

  // The simulator's own CPU (every thread of this process) over the measured window.
  let cpu0 = process.cpuUsage();
  const cpuTimer = setTimeout(
    () => cpu0 = process.cpuUsage(),
    Math.max(0, startAtEpoch + warmupMs - Date.now()),
  );
  let results: SliceResult[];
  try {
    if (workersN === 1) {
      results = [await simulateAgents(slices[0]!, { signal: options.signal, onSecond })];
    } else {
      results = await Promise.all(
        slices.map((slice, i) => runWorker(workers[i]!, slice, onSecond, options.signal)),
      );
    }
  } finally {
    clearTimeout(cpuTimer);
  }
  const cpu = process.cpuUsage(cpu0);
  if (progress && options.progress === true && Deno.stderr.isTerminal()) console.error("");

  if (createdUsers && !options.keepUsers && options.admin) {
    const admin = splitCredentials(options.admin, "--admin");
    for (const u of users) {
      const remove = () =>
        controlRequest("DELETE", `/user/${encodeURIComponent(u.name)}`, {
          authorization: basic(admin.name, admin.password),
        });
      // Once more on a failure: the control connection idled through the run, and a proxy in front
      // (HAProxy's keep-alive timeout, 10 s) closes it, so the first request after the run fails.
      await remove().catch(remove).catch(() => {});
    }
  }
  control.close();
  return mergeSlices(results, {
    agents: agentsN,
    users: users.length,
    connections: connectionsN,
    encoding,
    rate,
    warmupS: warmupMs / 1000,
    timeline: timeline.sort((a, b) => a.elapsedS - b.elapsedS),
    cpuMs: (cpu.user + cpu.system) / 1000,
    workers: workersN,
  });
}

/** Starts a Worker thread of this process; resolves once its module has loaded. */
function loadWorker(): Promise<Worker> {
  const worker = new Worker(new URL("./sim_worker.ts", import.meta.url).href, { type: "module" });
  const loaded = Promise.withResolvers<Worker>();
  const timer = setTimeout(() => {
    worker.terminate();
    loaded.reject(new Error("sim worker: not loaded within 60 s"));
  }, 60_000);
  worker.onmessage = (e: MessageEvent) => {
    if (e.data?.type === "ready") loaded.resolve(worker);
  };
  worker.onerror = (e) => {
    e.preventDefault();
    worker.terminate();
    loaded.reject(new Error(`sim worker: ${e.message}`));
  };
  return loaded.promise.finally(() => clearTimeout(timer));
}

/** Starts `n` workers; if one fails, the others are stopped and the error is thrown. */
async function loadWorkers(n: number): Promise<Worker[]> {
  const settled = await Promise.allSettled(Array.from({ length: n }, loadWorker));
  const failed = settled.find((r) => r.status === "rejected");
  if (!failed) return settled.map((r) => (r as PromiseFulfilledResult<Worker>).value);
  for (const r of settled) if (r.status === "fulfilled") r.value.terminate();
  throw failed.reason;
}

/** Runs one slice in a loaded Worker thread of this process. */
function runWorker(
  worker: Worker,
  slice: AgentSlice,
  onSecond: (s: SliceSecond) => void,
  signal?: AbortSignal,
): Promise<SliceResult> {
  const done = Promise.withResolvers<SliceResult>();
  const stop = () => worker.postMessage({ type: "stop" });
  signal?.addEventListener("abort", stop, { once: true });
  worker.onmessage = (e: MessageEvent) => {
    const m = e.data;
    if (m.type === "second") onSecond(m.second);
    else if (m.type === "done") done.resolve(m.result);
    else if (m.type === "error") done.reject(new Error(`sim worker ${slice.worker}: ${m.message}`));
  };
  worker.onerror = (e) => {
    e.preventDefault();
    done.reject(new Error(`sim worker ${slice.worker}: ${e.message}`));
  };
  worker.postMessage({ type: "start", slice });
  return done.promise.finally(() => {
    signal?.removeEventListener("abort", stop);
    worker.terminate();
  });
}

function mergeSlices(
  results: SliceResult[],
  meta: {
    agents: number;
    users: number;
    connections: number;
    encoding: "json" | "msgpack";
    rate: number;
    warmupS: number;
    timeline: SimSnapshot[];
    cpuMs: number;
    workers: number;
  },
): SimSummary {
  const merge = (pick: (r: SliceResult) => PhaseJson) => {
    const out = {
      sent: 0,
      ok: 0,
      errors: 0,
      uncertain: 0,
      errorsByCause: {} as Record<string, number>,
      byKind: {} as Record<string, { sent: number; ok: number }>,
      latency: new Histogram(),
      wire: new Histogram(),
    };
    for (const r of results) {
      const x = pick(r);
      out.sent += x.sent;
      out.ok += x.ok;
      out.errors += x.errors;
      out.uncertain += x.uncertain;
      for (const [k, v] of Object.entries(x.errorsByCause)) {
        out.errorsByCause[k] = (out.errorsByCause[k] ?? 0) + v;
      }
      for (const [k, v] of Object.entries(x.byKind)) {
        const b = out.byKind[k] ??= { sent: 0, ok: 0 };
        b.sent += v.sent;
        b.ok += v.ok;
      }
      out.latency.merge(Histogram.fromJSON(x.latency));
      out.wire.merge(Histogram.fromJSON(x.wire));
    }
    return out;
  };
  const main = merge((r) => r.main);
  const warm = merge((r) => r.warm);
  const measuredMs = Math.max(...results.map((r) => r.measuredMs));
  const records = results.some((r) => r.records)
    ? Object.assign({}, ...results.map((r) => r.records ?? {})) as Record<string, AgentRecord>
    : undefined;
  return {
    agents: meta.agents,
    users: meta.users,
    connections: meta.connections,
    workers: meta.workers,
    encoding: meta.encoding,
    rate: meta.rate,
    durationS: measuredMs / 1000,
    sent: main.sent,
    ok: main.ok,
    errors: main.errors,
    errorsByCause: main.errorsByCause,
    uncertain: main.uncertain,
    byKind: main.byKind,
    requestsPerSecond: (main.ok + main.errors) / (measuredMs / 1000),
    latency: latencySummary(main.latency),
    wire: latencySummary(main.wire),
    warmup: {
      seconds: meta.warmupS,
      sent: warm.sent,
      ok: warm.ok,
      errors: warm.errors,
      errorsByCause: warm.errorsByCause,
      latency: latencySummary(warm.latency),
    },
    chain: results[0]!.chain,
    timeline: meta.timeline,
    simulatorCpuPercent: meta.cpuMs / measuredMs * 100,
    agentIds: results.flatMap((r) => r.agentIds),
    ...(records ? { records } : {}),
  };
}

/** Parses `--flag value` / `--flag=value` arguments into options. */
export function parseSimArgs(args: string[]): SimOptions & { json?: boolean; help?: boolean } {
  const out: SimOptions & { json?: boolean; help?: boolean } = { progress: true };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    let arg = args[i]!;
    let value: string | undefined;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const take = () => value ?? args[++i];
    switch (arg) {
      case "--agents":
        out.agents = num(arg, take());
        break;
      case "--duration":
        out.durationS = num(arg, take());
        break;
      case "--url":
        out.url = take();
        break;
      case "--admin":
        out.admin = take();
        break;
      case "--admin-password-file": {
        // The admin's password from a file (`data/admin-password`): `deno task` echoes its
        // command line, so a password given as an argument would be printed.
        const file = take();
        if (file === undefined) throw new Error(`${arg} needs a file`);
        const name = out.admin?.split(":", 1)[0] || "admin";
        out.admin = `${name}:${Deno.readTextFileSync(file).trim()}`;
        break;
      }
      case "--user":
        out.user = take();
        break;
      case "--users":
        out.users = num(arg, take());
        break;
      case "--encoding": {
        const e = take();
        if (e !== "json" && e !== "msgpack") throw new Error("--encoding is json or msgpack");
        out.encoding = e;
        break;
      }
      case "--rate":
        out.rate = num(arg, take());
        break;
      case "--connections":
        out.connections = num(arg, take());
        break;
      case "--workers":
        out.workers = num(arg, take());
        break;
      case "--prefix":
        out.prefix = take();
        break;
      case "--ramp":
        out.rampS = num(arg, take());
        break;
      case "--warmup":
        out.warmupS = num(arg, take());
        break;
      case "--seed":
        out.seed = num(arg, take());
        break;
      case "--bye":
        out.bye = true;
        break;
      case "--keep-users":
        out.keepUsers = true;
        break;
      case "--quiet":
        out.progress = false;
        break;
      case "--json":
        out.json = true;
        break;
      case "--help":
      case "-h":
        out.help = true;
        break;
      default:
        throw new Error(`unknown option ${arg} (see --help)`);
    }
  }
  return out;
}

const HELP = `deno task sim [options] — simulated agents against a running service

  --url BASE            service base URL (default http://127.0.0.1:4000)
  --admin NAME:PASS     an admin: creates the simulation's users (deleted at the end)
  --admin-password-file FILE
                        the admin's password from FILE (name: --admin NAME before it, else admin)
  --user NAME:PASS      or an existing agent user shared by every agent
  --agents N            number of agents (default 10)
  --users N             users created with --admin (default min(agents, 100))
  --duration S          seconds to run (default 60)
  --encoding json|msgpack
  --rate X              cadence multiplier (2 = twice as often; default 1)
  --connections N       keep-alive connections (default one per agent)
  --workers N           threads sharing the agents (default one per 3,000 agents, ≤ cores)
  --ramp S              agents start spread over S seconds (default one ping period)
  --warmup S            seconds before the measured --duration (reported apart)
  --prefix P            agent id prefix (default sim-<seed>)
  --bye                 send /bye for every agent at the end
  --keep-users          keep the users created with --admin
  --json                print the summary as JSON on stdout
  --quiet               no progress line`;

/** Prints a human summary. */
export function formatSummary(s: SimSummary): string {
  const kinds = Object.entries(s.byKind).filter(([, v]) => v.sent > 0)
    .map(([k, v]) => `${k} ${v.ok}/${v.sent}`).join(", ");
  const causes = Object.entries(s.errorsByCause).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  return [
    `agents ${s.agents} (users ${s.users}, connections ${s.connections}, workers ${s.workers}, ${s.encoding}, rate x${s.rate}) for ${
      s.durationS.toFixed(1)
    } s` +
    (s.warmup.seconds > 0
      ? ` after a ${s.warmup.seconds} s warm-up (${s.warmup.ok}/${s.warmup.sent} ok, ${s.warmup.errors} errors, p99 ${
        formatMs(s.warmup.latency.p99)
      })`
      : ""),
    `requests ${s.sent} sent, ${s.ok} ok, ${s.errors} errors (${causes}), ${s.uncertain} uncertain; ${
      s.requestsPerSecond.toFixed(0)
    } req/s`,
    `latency from schedule: p50 ${formatMs(s.latency.p50)}  p90 ${formatMs(s.latency.p90)}  p99 ${
      formatMs(s.latency.p99)
    }  max ${formatMs(s.latency.max)}`,
    `latency on the wire:   p50 ${formatMs(s.wire.p50)}  p90 ${formatMs(s.wire.p90)}  p99 ${
      formatMs(s.wire.p99)
    }  max ${formatMs(s.wire.max)}`,
    `by kind (ok/sent): ${kinds}`,
    `chain: ${s.chain.blocks} blocks, head ${s.chain.head}; simulator CPU ${
      s.simulatorCpuPercent.toFixed(0)
    } % of a core`,
  ].join("\n");
}

if (import.meta.main) {
  let options;
  try {
    options = parseSimArgs(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
  if (options.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  if (options.json) options.progress = false;
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const summary = await runSimulation({ ...options, signal: controller.signal });
    if (options.json) {
      const { records: _records, ...rest } = summary;
      console.log(JSON.stringify(rest));
    } else console.log(formatSummary(summary));
    Deno.exit(summary.errors > 0 ? 1 : 0);
  } catch (err) {
    console.error(`sim: ${(err as Error).message}`);
    Deno.exit(2);
  }
}
