/** Service configuration: a JSON file validated with zod, environment overrides, defaults that run. */
import { z } from "zod";
import { describeZodError } from "../http/validation.ts";

/** The route groups a listener can serve. */
export const ROUTE_GROUPS = ["auth", "protocol", "dashboard", "ops"] as const;
export type RouteGroup = typeof ROUTE_GROUPS[number];

const listenerSchema = z.object({
  hostname: z.string().min(1).default("0.0.0.0"),
  port: z.number().int().min(0).max(65535),
  routes: z.array(z.enum(ROUTE_GROUPS)).min(1).default([...ROUTE_GROUPS]),
  tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
}).strict();

const receiverSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  subscribe: z.array(z.string().min(1)).default([]),
}).passthrough();

/**
 * Cluster mode (several instances behind a balancer): the queue and live fan-out on NATS
 * JetStream, auth state shared in Postgres (or a remote Deno KV). Absent: one process.
 */
const clusterSchema = z.object({
  nats: z.object({
    /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    /** JetStream stream of accepted Messages; its lowercased name is the subject root (`poa.msg.<type>`). */
    stream: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, "must be 1-32 of [A-Za-z0-9_-]").default("POA"),
    /** Stream replicas (3 on a 3-node NATS cluster). */
    replicas: z.number().int().min(1).max(5).default(1),
    /** How long the stream keeps a message (a storage receiver down longer loses the oldest). */
    maxAgeSeconds: z.number().int().positive().default(86_400),
    /** A delivered message not acked within this is redelivered (to any instance). */
    ackWaitSeconds: z.number().int().positive().default(30),
    /**
     * How long a report waits for the JetStream ack before it goes to the instance's outbox
     * (`<dataDir>/outbox`), which publishes it again until JetStream takes it (cluster/outbox.ts).
     */
    publishTimeoutMs: z.number().int().positive().default(2_000),
    /** Bytes of reports the outbox holds on disk; beyond it reports get 503 before any publish. */
    outboxMaxBytes: z.number().int().positive().default(512 * 1024 * 1024),
  }).strict(),
  /** Where users, banned tokens and the JWT secret live: Postgres (`postgres.url`) or `kv.path`. */
  authStore: z.enum(["kv", "postgres"]).default("postgres"),
}).strict();

/** Every receiver's queue (core/runner.ts): memory bound, spill batching, spill buffer bound. */
const queueSchema = z.object({
  /** Items a durable receiver's queue keeps in memory; beyond it they are spilled to disk. */
  maxItems: z.number().int().positive().default(10_000),
  /**
   * Items a live receiver's queue (dashboard, web: nothing durable) keeps in memory; beyond it the
   * oldest are dropped. Larger than `maxItems` so that a burst held back (below) fits in half.
   */
  maxLiveItems: z.number().int().positive().default(50_000),
  /**
   * Bytes of reports (as they came in) one receiver's queue keeps in memory, whichever bound
   * comes first: durable receivers spill beyond it, live ones drop the oldest. With
   * `maxSpillBufferBytes` the worst case a receiver holds in memory is 256 MiB, whatever the
   * report sizes (up to `bodyLimitBytes` each).
   */
  maxBytes: z.number().int().positive().default(128 * 1024 * 1024),
  /** Bytes of reports waiting for a spill write; at the bound /data answers 503 `overloaded`. */
  maxSpillBufferBytes: z.number().int().positive().default(128 * 1024 * 1024),
  /** Most items per spill segment file (one write and fsync each). */
  segmentSize: z.number().int().positive().default(1000),
  /** A partial spill segment is written this long after its first item (ms). */
  spillFlushMs: z.number().int().min(0).default(100),
  /**
   * Items a durable receiver holds in memory waiting for a spill write. At the bound /data
   * answers 503 `overloaded` with Retry-After (nothing accepted is dropped).
   */
  maxSpillBuffer: z.number().int().positive().default(20_000),
  /**
   * Bytes of spill files a durable receiver may have on disk (per receiver); at the bound /data
   * answers 503 `overloaded` too, until replay has written some of them to the sink.
   */
  maxSpillBytes: z.number().int().positive().default(1024 * 1024 * 1024),
  /**
   * A durable receiver whose batch has been going out this long (ms; failing, or hanging on a
   * frozen sink) writes the memory queue behind it to its spill: a crash during a long outage then
   * loses at most that batch. Not in cluster mode (JetStream holds what is not written).
   */
  spillAfterFailingMs: z.number().int().min(1).default(5_000),
  /**
   * ethstats frames per second from which the service counts as taking in a burst (every node
   * reporting a new block within a second): receivers then hold their delivery, so reading
   * sockets and answering pings get the CPU first. 0: never held.
   */
  burstFramesPerSecond: z.number().int().min(0).default(6_000),
  /** Longest a report waits in a queue because of a burst (ms); a queue is held only up to half its bound. */
  maxBurstHoldMs: z.number().int().positive().default(2_000),
}).strict();

/** The metric types the original agent sends. */
export const DEFAULT_METRICS = ["ethereum_metrics", "networking_metrics", "system_metrics"];

export const configSchema = z.object({
  listen: z.array(listenerSchema).min(1).default([{
    hostname: "0.0.0.0",
    port: 4000,
    routes: [...ROUTE_GROUPS],
  }]),
  jwt: z.object({
    secret: z.string().min(16, "must be at least 16 characters").optional(),
    ttlSeconds: z.number().int().positive().default(3600),
  }).strict().default({ ttlSeconds: 3600 }),
  admins: z.array(
    z.object({ name: z.string().min(1), password: z.string().min(8, "must be at least 8 characters") })
      .strict(),
  ).default([]),
  /** Users, bans and the generated JWT secret (`authStore` "kv"): `<dataDir>/poa.kv` by default. */
  kv: z.object({ path: z.string().min(1).optional() }).strict().default({}),
  /** Where spill files, the embedded Postgres, the KV file and other local state live. */
  dataDir: z.string().min(1).default("data"),
  postgres: z.object({ url: z.string().min(1).optional() }).strict().default({}),
  metrics: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of [A-Za-z0-9_.-]"))
    .min(1).default(DEFAULT_METRICS),
  inactivityTimeoutMs: z.number().int().positive().default(7000),
  receivers: z.array(receiverSchema).optional(),
  /** Password login attempts (auth/login_limit.ts): per user name and address, and per address. */
  loginLimit: z.object({
    maxFailures: z.number().int().min(0).default(10),
    /** Failures from one address across every name (default 10 × maxFailures). */
    maxFailuresPerAddress: z.number().int().positive().optional(),
    windowSeconds: z.number().int().positive().default(300),
  }).strict().default({ maxFailures: 10, windowSeconds: 300 }),
  /**
   * Agent ids per user (core/agent_ids.ts): a fifth of the receivers' 50,000 nodes by default, each
   * counted for as long as the alerts receiver remembers a node that went down (7 days): with an
   * hour, one user's 10,000 new ids an hour filled its table in five and pushed real down nodes out.
   */
  agentIds: z.object({
    maxPerUser: z.number().int().min(0).default(10_000),
    forgetAfterMs: z.number().int().min(60_000).default(7 * 86_400_000),
  }).strict().default({ maxPerUser: 10_000, forgetAfterMs: 7 * 86_400_000 }),
  /** The original accepted 8 MB; the POA agent's history of 41 blocks is 1–2 MB on a busy chain. */
  bodyLimitBytes: z.number().int().positive().default(8_000_000),
  /**
   * Bytes of request bodies being received at once, per user and in all (http/byte_budget.ts):
   * beyond them a body is refused with 503 before it is read. Each is at least `bodyLimitBytes`.
   */
  bodyBytesInFlight: z.object({
    perUser: z.number().int().positive().default(16_000_000),
    total: z.number().int().positive().default(268_435_456),
  }).strict().default({ perUser: 16_000_000, total: 268_435_456 }),
  /**
   * Addresses of the proxies in front (a load balancer): for requests from them the client is
   * the rightmost untrusted `X-Forwarded-For` entry, so per-address limits see the real client.
   */
  trustedProxies: z.array(z.string().min(1)).default([]),
  /** Nodes that speak the ethstats websocket protocol directly (go-ethereum --ethstats). */
  ethstats: z.object({
    enabled: z.boolean().default(true),
    path: z.string().startsWith("/").default("/api"),
    sharedSecret: z.string().min(1).optional(),
    /** Besu sends full transaction objects: ten blocks of a history reply can pass 1 MB. */
    maxFrameBytes: z.number().int().positive().default(8_000_000),
    maxMessagesPerSecond: z.number().positive().default(50),
    maxConnectionsPerAddress: z.number().int().positive().default(50),
    /**
     * After a socket is dropped for flooding or an oversized frame, its address may not open
     * another for this long (429 with Retry-After; its open sockets are left alone): reconnecting
     * does not start a fresh allowance. 0: off.
     */
    violationCooldownSeconds: z.number().min(0).default(10),
    /**
     * Sockets that have not logged in yet, in all and per address; more are refused before the
     * upgrade (503 / 429). Deno buffers a whole websocket message before the service sees it (up
     * to 64 MiB, denoland/deno#15809), so these bound what unauthenticated peers can make the
     * process hold: 64 × 64 MiB in all, 8 × 64 MiB per address (not a message sent in fragments that
     * never ends: Deno 2.9.6 does not bound that, denoland/fastwebsockets#100; README "Limits under
     * abuse"). Logins take milliseconds.
     */
    maxUnauthenticated: z.number().int().positive().default(64),
    maxUnauthenticatedPerAddress: z.number().int().positive().default(8),
    historyRequestLimit: z.number().int().min(0).max(1000).default(50),
    /** A logged-in socket that sends nothing for this long is closed (go-ethereum reports every 15 s). */
    silentCloseSeconds: z.number().positive().default(60),
    /**
     * `"primus::ping::<ms>"` this often (0: never) to every logged-in Primus client (≥ 7 drops a
     * line without one for 45 s), and to other nodes sent nothing for as long (newest Nethermind
     * drops a line silent for 30 s; POA Network's agent crashes on one): see `Connection.primus`.
     */
    pingIntervalSeconds: z.number().min(0).default(20),
  }).strict().default({
    enabled: true,
    path: "/api",
    maxFrameBytes: 8_000_000,
    maxMessagesPerSecond: 50,
    maxConnectionsPerAddress: 50,
    violationCooldownSeconds: 10,
    maxUnauthenticated: 64,
    maxUnauthenticatedPerAddress: 8,
    historyRequestLimit: 50,
    silentCloseSeconds: 60,
    pingIntervalSeconds: 20,
  }),
  queue: queueSchema.default({
    maxItems: 10_000,
    maxLiveItems: 50_000,
    maxBytes: 128 * 1024 * 1024,
    maxSpillBufferBytes: 128 * 1024 * 1024,
    segmentSize: 1000,
    spillFlushMs: 100,
    maxSpillBuffer: 20_000,
    maxSpillBytes: 1024 * 1024 * 1024,
    spillAfterFailingMs: 5_000,
    burstFramesPerSecond: 6_000,
    maxBurstHoldMs: 2_000,
  }),
  shutdownTimeoutMs: z.number().int().positive().default(10_000),
  /**
   * Behind a balancer: on a stop signal `/healthz` answers 503 for this long while everything is
   * still served, so the balancer's health checks take the instance out before its listeners close
   * (closed at once, its pooled keep-alive connections cut requests on their way). 0: stop at once.
   */
  stopDelayMs: z.number().int().min(0).max(60_000).default(0),
  /**
   * A file of \`KEY=value\` lines read as environment variables (POA_ADMIN_PASSWORD, POA_WS_SECRET,
   * POA_JWT_SECRET, DATABASE_URL…; the process environment wins), relative to the config file:
   * secrets kept out of the config. Refused when others may read it (mode must be 0600 or 0400).
   */
  envFile: z.string().min(1).optional(),
  /** Longest a login or admin call waits for the auth store (Postgres in a cluster) before a 503. */
  authStoreTimeoutMs: z.number().int().positive().default(5_000),
  cluster: clusterSchema.optional(),
}).strict().transform((config) => ({
  ...config,
  // All local state in one directory: setting dataDir moves the KV file with the rest.
  kv: { path: config.kv.path ?? `${config.dataDir}/poa.kv`, inDataDir: config.kv.path === undefined },
}));

export type Config = z.infer<typeof configSchema>;
export type ListenerConfig = Config["listen"][number];
export type ReceiverConfig = z.infer<typeof receiverSchema>;
export type ClusterConfig = z.infer<typeof clusterSchema>;

/** The receivers of a config without a `receivers` key. */
export function defaultReceivers(config: Config): ReceiverConfig[] {
  const has = (t: string) => config.metrics.includes(t);
  // The original dashboard feed: Ethereum and networking reports (system statistics would
  // look like a node's statistics to its clients). Custom metric sets get every type.
  const feed = config.metrics.filter((t) => t === "ethereum_metrics" || t === "networking_metrics");
  const list: ReceiverConfig[] = [
    { id: "dashboard", type: "dashboard", subscribe: feed.length > 0 ? feed : [...config.metrics] },
    { id: "web", type: "web", subscribe: [...config.metrics] },
  ];
  if (has("ethereum_metrics")) {
    list.push({ id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] });
  }
  if (has("system_metrics")) {
    list.push({ id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] });
  }
  return list;
}

/** The metric types no receiver subscribes to: accepted from agents, kept nowhere. */
export function metricsWithoutReceiver(
  metrics: readonly string[],
  receivers: readonly ReceiverConfig[],
): string[] {
  return metrics.filter((type) => !receivers.some((r) => r.subscribe.includes(type)));
}

/** Thrown when the configuration cannot be used; the message names the key and the problem. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Validates a parsed JSON value and applies defaults. */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid config: ${describeZodError(result.error)}`);
  const ids = new Set<string>();
  for (const [i, r] of (result.data.receivers ?? []).entries()) {
    if (ids.has(r.id)) throw new ConfigError(`invalid config: receivers.${i}.id: duplicate id "${r.id}"`);
    ids.add(r.id);
  }
  return result.data;
}

/** Environment variables that override secrets and the database URL. */
export interface ConfigEnv {
  POA_JWT_SECRET?: string;
  POA_ADMIN_NAME?: string;
  POA_ADMIN_PASSWORD?: string;
  POA_WS_SECRET?: string;
  DATABASE_URL?: string;
}

/** Applies the documented environment overrides to a validated config. */
export function applyEnv(config: Config, env: ConfigEnv): Config {
  const out: Config = structuredClone(config);
  if (env.POA_JWT_SECRET) {
    if (env.POA_JWT_SECRET.length < 16) {
      throw new ConfigError("invalid environment: POA_JWT_SECRET: must be at least 16 characters");
    }
    out.jwt.secret = env.POA_JWT_SECRET;
  }
  if (env.POA_ADMIN_PASSWORD) {
    if (env.POA_ADMIN_PASSWORD.length < 8) {
      throw new ConfigError("invalid environment: POA_ADMIN_PASSWORD: must be at least 8 characters");
    }
    const name = env.POA_ADMIN_NAME || "admin";
    out.admins = [...out.admins.filter((a) => a.name !== name), { name, password: env.POA_ADMIN_PASSWORD }];
  }
  if (env.DATABASE_URL && !out.postgres.url) out.postgres.url = env.DATABASE_URL;
  return out;
}

/** Reads `envFile`: `KEY=value` lines (blank lines and `#` comments skipped), owner-only. */
export async function readEnvFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (info.mode !== null && (info.mode & 0o077) !== 0) {
      throw new ConfigError(
        `envFile ${path} may be read by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 ${path}`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read envFile ${path}: ${(err as Error).message}`);
  }
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new ConfigError(`envFile ${path}:${i + 1}: expected KEY=value`);
    out[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** Reads and validates a config file (or the defaults when `path` is undefined). */
export async function loadConfig(
  path: string | undefined,
  env: Record<string, string | undefined> = {},
): Promise<Config> {
  return (await loadConfigAndEnv(path, env)).config;
}

/**
 * The config and the environment it was read with: `env` over the config's `envFile`
 * (what the service reads from the environment, e.g. POA_WS_SECRET, comes from both).
 */
export async function loadConfigAndEnv(
  path: string | undefined,
  env: Record<string, string | undefined> = {},
): Promise<{ config: Config; env: Record<string, string> }> {
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
    }
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
    }
  }
  const parsed = parseConfig(raw);
  let merged = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined),
  );
  if (parsed.envFile !== undefined) {
    const base = path === undefined
      ? Deno.cwd()
      : path.includes("/")
      ? path.slice(0, path.lastIndexOf("/"))
      : ".";
    const file = parsed.envFile.startsWith("/") ? parsed.envFile : `${base}/${parsed.envFile}`;
    merged = { ...await readEnvFile(file), ...merged };
  }
  return { config: applyEnv(parsed, merged), env: merged };
}

/**
 * The config path from `--config <path>` / `--config=<path>` or `POA_CONFIG`. Any other argument is
 * an error: `--port 5000` (as `deno task cluster` takes) once started the service on 0.0.0.0:4000.
 */
export function configPathFrom(args: string[], env: { POA_CONFIG?: string }): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--config") {
      const value = args[++i];
      if (!value) throw new ConfigError("--config needs a path");
      path = value;
    } else if (arg.startsWith("--config=")) path = arg.slice("--config=".length);
    else {
      throw new ConfigError(
        `unknown argument ${JSON.stringify(arg)}: the service takes only --config <file> (or POA_CONFIG); ` +
          "ports, receivers and every other setting are keys of that file (README, Configuration)",
      );
    }
  }
  return path ?? (env.POA_CONFIG || undefined);
}

/** The config of this process (`--config`/`POA_CONFIG` and the environment), or why it cannot be used. */
export async function loadProcessConfig(
  args: string[] = Deno.args,
  env: Record<string, string> = Deno.env.toObject(),
): Promise<{ ok: true; config: Config; env: Record<string, string> } | { ok: false; message: string }> {
  try {
    return { ok: true, ...await loadConfigAndEnv(configPathFrom(args, env), env) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, message: err.message };
    throw err;
  }
}
