/**
 * The `web` receiver: a live dashboard page served by the service, with a coalescing browser
 * feed and a JSON read API over the in-memory node state and the Postgres statistics history.
 *
 * Routes (on the `dashboard` route group):
 * - `GET /` the page; `GET /assets/<file>` its script and style (from `web/`);
 * - `GET /feed` server-sent events: a snapshot, then one event per flush with the changed nodes only;
 * - `GET /v1/nodes`, `/v1/nodes/:id`, `/v1/nodes/:id/eth_stats`, `/v1/nodes/:id/system_stats`,
 *   `/v1/blocks`, `/v1/propagation` (the network's histogram over the recent blocks, each node's
 *   last and average delay), `/v1/chain` (best block, forks, nodes behind and stuck): api.ts.
 */
import { createByteBudget } from "../http/byte_budget.ts";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { z } from "zod";
import { safeEqual } from "../auth/password.ts";
import type { AppEnv } from "../http/app_env.ts";
import { AppError, errorResponse } from "../http/errors.ts";
import type { Message } from "../core/message.ts";
import { createAddressLimit } from "../http/websocket.ts";
import { openFeedStream } from "../http/event_stream.ts";
import type { Receiver, ReceiverContext, ReceiverType } from "../core/receiver.ts";
import { assetResponse, loadAssets, memoryAsset } from "./assets.ts";
import { createGeo } from "./geo.ts";
import { createFeed, PAGE_BLOCKS } from "./feed.ts";
import { createWebApi } from "./api.ts";
import { createWebState } from "./state.ts";
import { type BlockStore, createBlockStore, startBlockPersistence } from "./block_store.ts";
import { createRateLimiter, rateLimited } from "../http/rate_limit.ts";

const tableName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lowercase SQL identifier");

const schema = z.object({
  /**
   * When true, the page, the feed and the read API need the dashboard secret: `?secret=` once
   * (the page trades it for an HttpOnly cookie) or that cookie. Assets stay public.
   */
  requireSecret: z.boolean().default(false),
  /** The secret; the service fills in the dashboard one (`POA_WS_SECRET`, `data/ws-secret`). */
  wsSecret: z.string().min(1).optional(),
  /** How often changed nodes are pushed to the pages (each node at most once per flush). */
  flushIntervalMs: z.number().int().min(50).max(10_000).default(500),
  /** An inactive node is removed from the page and the API this long after it went inactive. */
  removeInactiveAfterMs: z.number().int().positive().default(3_600_000),
  /** Nodes kept in memory; the least recently heard-from one is forgotten beyond it. */
  maxNodes: z.number().int().positive().max(100_000).default(50_000),
  /**
   * Recent blocks kept (highest numbers), for `GET /v1/blocks`, the miners and the propagation
   * histogram; the page gets the latest PAGE_BLOCKS of them. 2,000 is about 3 hours of 5 s blocks.
   */
  maxBlocks: z.number().int().min(1).max(20_000).default(2000),
  /**
   * How long the recent blocks must reach more than `maxBlocks` above the active nodes' best block
   * before they are let go as a chain no active node is on (a network reset).
   */
  chainResetAfterMs: z.number().int().min(1_000).max(86_400_000).default(300_000),
  /**
   * Keep the recent blocks and their propagation (`blocksTable`) and each node's latest information
   * (`nodesTable`: name, client, coinbase...) in Postgres, read back at start: the page shows them
   * again after a restart. Off: memory only.
   */
  persistBlocks: z.boolean().default(true),
  blocksTable: tableName.default("web_blocks"),
  nodesTable: tableName.default("web_nodes"),
  /** How often changed blocks and information are saved. */
  persistIntervalMs: z.number().int().min(100).max(600_000).default(5000),
  /** A node whose latest block is more than this many blocks below the best one is behind. */
  behindBlocks: z.number().int().min(0).default(3),
  /** A node behind for longer than this is stuck (flagged on the page and in `/v1/chain`). */
  stuckAfterMs: z.number().int().positive().default(60_000),
  /**
   * The node map: each node's location from its address, looked up in a geolocation database
   * shipped in an npm package (read at start, ~60 MB of memory; no network call). False: no map,
   * the database is not loaded.
   */
  map: z.boolean().default(true),
  /** Connected pages at most. */
  maxClients: z.number().int().positive().default(1000),
  /** Feed streams one address may hold open; more are 429. */
  maxClientsPerAddress: z.number().int().positive().default(50),
  /** A page with more unsent bytes than this (beyond its first snapshot) is closed. */
  maxClientBufferBytes: z.number().int().positive().default(4 * 1024 * 1024),
  /** Widest `from`..`to` of a history request. */
  maxRangeMs: z.number().int().positive().default(31 * 86_400_000),
  /** A history request waiting longer than this for Postgres is 503. */
  historyTimeoutMs: z.number().int().positive().default(10_000),
  /** Tables read by the history API (as configured on the eth_stats / system_stats receivers). */
  ethStatsTable: tableName.default("eth_stats"),
  systemStatsTable: tableName.default("system_stats"),
  /** Lifetime of the access cookie (when `requireSecret`). */
  cookieMaxAgeSeconds: z.number().int().positive().default(30 * 86_400),
  /**
   * Requests per second per client address on the page, its assets, the feed and the read API
   * (a token bucket `burst` deep; 429 beyond it). `perSecond` 0 turns it off (e.g. behind one
   * proxy address for every viewer, if that proxy limits them itself).
   */
  rateLimit: z.object({
    perSecond: z.number().min(0).default(20),
    burst: z.number().int().positive().default(60),
  }).strict().default({ perSecond: 20, burst: 60 }),
  /** Directory of the page and its assets (default: `web/` of this repository). */
  assetsDir: z.string().min(1).optional(),
}).strict();

/** Validated web dashboard options (defaults applied). */
export type WebOptions = z.infer<typeof schema>;

/** The web dashboard receiver. */
export interface WebReceiver extends Receiver {
  routes: { group: "dashboard"; app: Hono<AppEnv> };
  inactive(agentId: string): void;
  close(): Promise<void>;
  stats(): Record<string, number>;
}

/** Name of the access cookie. */
export const ACCESS_COOKIE = "poa_dashboard";

/** The access cookie's value: an HMAC of a fixed label, so the cookie never holds the secret. */
async function accessToken(secret: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode("poa-web-dashboard-access-v1")),
  );
  return btoa(String.fromCharCode(...mac)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Creates a web dashboard receiver. */
export async function createWebReceiver(
  id: string,
  options: WebOptions,
  context: Pick<ReceiverContext, "postgres"> & { now?: () => number },
): Promise<WebReceiver> {
  const now = context.now ?? Date.now;
  const assets = await loadAssets(options.assetsDir ?? new URL("../web/", import.meta.url));
  const token = options.requireSecret ? await accessToken(options.wsSecret!) : undefined;
  const geo = options.map ? createGeo() : undefined;
  await geo?.load();
  const world = geo
    ? await memoryAsset(new TextEncoder().encode(JSON.stringify(geo.world())), "application/json")
    : undefined;
  const state = createWebState({
    maxNodes: options.maxNodes,
    maxBlocks: options.maxBlocks,
    chainResetAfterMs: options.chainResetAfterMs,
    removeInactiveAfterMs: options.removeInactiveAfterMs,
    behindBlocks: options.behindBlocks,
    locate: geo?.lookup,
    warn: (line) => console.warn(`receiver ${id}: ${line}`),
    now,
  });
  const feed = createFeed(state, {
    maxClientBufferBytes: options.maxClientBufferBytes,
    maxClients: options.maxClients,
    settings: {
      flushIntervalMs: options.flushIntervalMs,
      removeInactiveAfterMs: options.removeInactiveAfterMs,
      maxBlocks: Math.min(options.maxBlocks, PAGE_BLOCKS),
      behindBlocks: options.behindBlocks,
      stuckAfterMs: options.stuckAfterMs,
      map: options.map ? 1 : 0,
    },
    now,
  });
  const counters = { skipped_malformed: 0, history_unavailable: 0 };
  /** Large read API answers not yet read by their clients: 32 MiB per address, 256 MiB in all. */
  const responses = createByteBudget({ perKeyBytes: 32 * 2 ** 20, totalBytes: 256 * 2 ** 20 });
  let store: BlockStore | undefined;
  const persistence = options.persistBlocks
    ? startBlockPersistence(
      state,
      async () =>
        store ??= createBlockStore(await context.postgres(), options.blocksTable, options.nodesTable),
      { intervalMs: options.persistIntervalMs, limit: options.maxBlocks, nodeLimit: options.maxNodes, id },
    )
    : undefined;

  // One timer: flush the changes to the pages and, less often, forget long-inactive nodes.
  const sweepEveryMs = Math.max(
    options.flushIntervalMs,
    Math.min(60_000, options.removeInactiveAfterMs / 10),
  );
  let lastSweep = now();
  let timerFailures = 0;
  const timer = setInterval(() => {
    try {
      if (now() - lastSweep >= sweepEveryMs) {
        lastSweep = now();
        state.sweep();
      }
      state.checkChain();
      feed.flush();
    } catch (err) {
      // A throw out of a timer would end the process: the pages miss one flush instead.
      if (timerFailures++ % 600 === 0) console.error("web dashboard: flushing to the pages failed:", err);
    }
  }, options.flushIntervalMs);

  const access = createAccess(options, token);
  const perAddress = createAddressLimit(options.maxClientsPerAddress);
  const rate = createRateLimiter(options.rateLimit);
  const app = new Hono<AppEnv>();
  app.use(rateLimited(rate));

  app.get("/", access, (c) => {
    if (c.req.query("secret") !== undefined) {
      // The secret was accepted and the cookie set: drop it from the address bar and history.
      return new Response(null, { status: 303, headers: { location: "./", "cache-control": "no-store" } });
    }
    return withPageHeaders(assetResponse(assets.page, requestVersion(c), "no-cache"));
  });

  app.get("/assets/:file", (c) => {
    const file = c.req.param("file");
    const asset = file === "world.json" && world ? world : assets.files.get(file);
    if (!asset) throw new AppError(404, "not_found", `no asset ${c.req.param("file")}`);
    return assetResponse(asset, requestVersion(c));
  });

  // Server-sent events: the page only reads, so the feed gives clients nothing to send on.
  app.get("/feed", access, (c) => {
    const opened = openFeedStream(c, {
      unavailable: (address) => feed.makeRoom(address) ? undefined : "too many dashboard pages connected",
      limit: {
        streams: perAddress,
        message: `at most ${options.maxClientsPerAddress} feed connections per address`,
      },
    });
    if (opened.ok) feed.open(opened.socket, opened.address);
    return opened.response;
  });

  app.route(
    "/",
    createWebApi({
      state,
      options,
      access,
      postgres: context.postgres,
      now,
      onHistoryUnavailable(err) {
        counters.history_unavailable++;
        console.warn(`receiver ${id}: history query failed: ${err.message}`);
      },
      responses,
      rate,
    }),
  );

  return {
    id,
    durable: false,
    routes: { group: "dashboard", app },
    receive(batch: Message[]) {
      for (const message of batch) {
        try {
          state.apply(message);
        } catch (err) {
          counters.skipped_malformed++;
          console.warn(`receiver ${id}: skipped a report of ${JSON.stringify(message.agentId)}: ${err}`);
        }
      }
    },
    inactive(agentId: string) {
      state.inactive(agentId);
    },
    async close() {
      clearInterval(timer);
      feed.close();
      await persistence?.close();
    },
    stats() {
      return {
        ...state.stats(),
        ...feed.stats(),
        ...counters,
        unread_response_bytes: responses.stats().bytes,
        unread_responses_refused: responses.stats().refused,
        ...persistence?.stats(),
        rate_limited: rate.refused,
      };
    },
  };
}

function requestVersion(
  c: Context<AppEnv>,
): { ifNoneMatch: string | undefined; version: string | undefined } {
  return { ifNoneMatch: c.req.header("if-none-match"), version: c.req.query("v") };
}

/** The page may only load its own script, worker, style and feed; it is never framed. */
function withPageHeaders(response: Response): Response {
  const headers = new Headers(response.headers);
  headers.set(
    "content-security-policy",
    "default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; img-src 'self' data:; " +
      "connect-src 'self'; " +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  headers.set("referrer-policy", "no-referrer");
  headers.set("x-frame-options", "DENY");
  return new Response(response.body, { status: response.status, headers });
}

/**
 * The access check. Public unless `requireSecret`; then `?secret=<secret>` (any route; it also
 * sets the HttpOnly access cookie) or that cookie, else 401. A wrong `?secret=` is 401 even with
 * a valid cookie: it is a credential that failed.
 */
function createAccess(options: WebOptions, token: string | undefined): MiddlewareHandler<AppEnv> {
  return async function webAccess(c, next) {
    if (!options.requireSecret || token === undefined) return await next();
    const presented = c.req.query("secret");
    if (presented !== undefined) {
      if (!safeEqual(presented, options.wsSecret!)) {
        return errorResponse(401, "unauthorized", "wrong dashboard secret");
      }
      await next();
      // A websocket upgrade response must go out untouched (and the page has the cookie already).
      if (c.res.status === 101) return;
      setCookie(c, ACCESS_COOKIE, token, {
        httpOnly: true,
        sameSite: "Lax",
        path: "/",
        maxAge: options.cookieMaxAgeSeconds,
        secure: isHttps(c),
      });
      return;
    }
    const cookie = getCookie(c, ACCESS_COOKIE);
    if (cookie !== undefined && safeEqual(cookie, token)) return await next();
    return errorResponse(
      401,
      "unauthorized",
      "this dashboard needs its secret: open it once as /?secret=<secret> (a cookie keeps access)",
    );
  };
}

function isHttps(c: Context<AppEnv>): boolean {
  return new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https";
}

/** Registry entry for `type: "web"`. */
export const webReceiverType: ReceiverType<typeof schema> = {
  needsPostgres: (options) => options.persistBlocks, // else only the history API asks for it
  options: schema,
  async create(options, context) {
    if (options.requireSecret && options.wsSecret === undefined) {
      const wsSecret = await context.wsSecret?.();
      if (wsSecret === undefined) {
        throw new Error(`receiver ${context.config.id}: requireSecret needs a wsSecret`);
      }
      options = { ...options, wsSecret };
    }
    return createWebReceiver(context.config.id, options, context);
  },
};
