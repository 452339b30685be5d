/**
 * The web receiver's JSON read API over its in-memory state and the Postgres statistics history:
 * `GET /v1/nodes`, `/v1/nodes/:id`, `/v1/nodes/:id/eth_stats`, `/v1/nodes/:id/system_stats`,
 * `/v1/blocks`, `/v1/propagation`, `/v1/chain`. Every route is behind the receiver's access check.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { type AppEnv, clientKey } from "../http/app_env.ts";
import { budgetedJsonBytes, type ByteBudget } from "../http/byte_budget.ts";
import { BYTES_PER_TOKEN, type RateLimiter } from "../http/rate_limit.ts";
import { AppError } from "../http/errors.ts";
import type { ReceiverContext } from "../core/receiver.ts";
import { blockView, chainView, nodeView } from "./feed.ts";
import {
  blocksQuerySchema,
  historyQuerySchema,
  nodeParams,
  nodesQuerySchema,
  parseQuery,
  queryEthStats,
  querySystemStats,
  secretOnlyQuerySchema,
} from "./history.ts";
import type { WebOptions } from "./receiver.ts";
import type { WebState } from "./state.ts";
import { createNodesById } from "./nodes_by_id.ts";

export interface WebApiDeps {
  state: WebState;
  options: Pick<
    WebOptions,
    | "maxRangeMs"
    | "maxBlocks"
    | "ethStatsTable"
    | "systemStatsTable"
    | "historyTimeoutMs"
    | "behindBlocks"
    | "stuckAfterMs"
  >;
  /** The receiver's access check (web_dashboard/receiver.ts). */
  access: MiddlewareHandler<AppEnv>;
  postgres: ReceiverContext["postgres"];
  now: () => number;
  /** A history query failed or timed out; the request is answered 503. */
  onHistoryUnavailable(err: Error): void;
  /** Bytes of large answers not yet read, per address and in all (http/byte_budget.ts). */
  responses: ByteBudget;
  /** The read API's requests per address: a large answer costs more than one (`BYTES_PER_TOKEN`). */
  rate: Pick<RateLimiter, "charge">;
}

const iso = (ms: number) => new Date(ms).toISOString();
const encoder = new TextEncoder();

/** How long one `/v1/propagation` answer is given again (its `now` says when it was made). */
const PROPAGATION_REUSE_MS = 1000;

/** Builds the read API's sub-app. */
export function createWebApi(deps: WebApiDeps): Hono<AppEnv> {
  const { state, options, access, postgres, now, onHistoryUnavailable } = deps;
  const app = new Hono<AppEnv>();
  /** A JSON answer, charged to its address's rate by its size, counted until read. */
  const answer = (c: Context<AppEnv>, bytes: Uint8Array<ArrayBuffer>) => {
    const key = clientKey(c);
    deps.rate.charge(key, Math.floor(bytes.byteLength / BYTES_PER_TOKEN));
    return budgetedJsonBytes(c, bytes, deps.responses, key);
  };
  const json = (c: Context<AppEnv>, value: unknown) => answer(c, encoder.encode(JSON.stringify(value)));
  const nodesById = createNodesById(state);

  app.get("/v1/nodes", access, (c) => {
    const query = parseQuery(nodesQuerySchema, c.req.query());
    const all = nodesById();
    const page = all.slice(query.offset, query.offset + query.limit);
    return json(c, {
      now: iso(now()),
      total: all.length,
      offset: query.offset,
      limit: query.limit,
      nodes: page.map((n) => nodeView(n, iso)),
    });
  });

  app.get("/v1/nodes/:id", access, (c) => {
    const agentId = parseQuery(nodeParams, { id: c.req.param("id") }).id;
    parseQuery(secretOnlyQuerySchema, c.req.query());
    const node = state.node(agentId);
    if (!node) throw new AppError(404, "not_found", `no node ${JSON.stringify(agentId)} is known`);
    return json(c, { now: iso(now()), node: nodeView(node, iso) });
  });

  const historyQuery = historyQuerySchema(options.maxRangeMs);
  for (const kind of ["eth_stats", "system_stats"] as const) {
    app.get(`/v1/nodes/:id/${kind}`, access, async (c) => {
      const agentId = parseQuery(nodeParams, { id: c.req.param("id") }).id;
      const query = parseQuery(historyQuery, c.req.query());
      const rows = await withPostgres(async (sql) =>
        kind === "eth_stats"
          ? await queryEthStats(sql, options.ethStatsTable, agentId, query)
          : await querySystemStats(sql, options.systemStatsTable, agentId, query)
      );
      return json(c, {
        agent_id: agentId,
        from: iso(query.from),
        to: iso(query.to),
        order: query.order,
        limit: query.limit,
        count: rows.length,
        rows,
      });
    });
  }

  app.get("/v1/blocks", access, (c) => {
    const query = parseQuery(blocksQuerySchema(options.maxBlocks), c.req.query());
    return json(c, { now: iso(now()), blocks: state.blocks(query.limit).map((b) => blockView(b, iso)) });
  });

  /**
   * The propagation answer, every node in it, made at most once a second: at 50,000 nodes it is
   * 15 MB of JSON and 70 ms to make, which the read API's rate alone let one address ask 20 times
   * a second.
   */
  let propagation: { at: number; bytes: Uint8Array<ArrayBuffer> } | undefined;
  app.get("/v1/propagation", access, (c) => {
    parseQuery(secretOnlyQuerySchema, c.req.query()); // no parameters but the secret
    const at = now();
    if (propagation === undefined || at - propagation.at >= PROPAGATION_REUSE_MS || at < propagation.at) {
      const nodes = [];
      for (const node of state.nodes()) nodes.push({ id: node.id, ...node.propagation });
      const text = JSON.stringify({ now: iso(at), network: state.propagation(), nodes });
      propagation = { at, bytes: encoder.encode(text) };
    }
    return answer(c, propagation.bytes);
  });

  app.get("/v1/chain", access, (c) => {
    parseQuery(secretOnlyQuerySchema, c.req.query());
    const at = now();
    const behind = [];
    for (const node of state.nodes()) {
      if (node.behindSince === null) continue;
      behind.push({
        id: node.id,
        block: node.last.block?.["number"] ?? null,
        behindSince: iso(node.behindSince),
        stuck: at - node.behindSince >= options.stuckAfterMs,
      });
    }
    return json(c, {
      now: iso(at),
      ...chainView(state),
      behindBlocks: options.behindBlocks,
      stuckAfterMs: options.stuckAfterMs,
      behind,
    });
  });

  /** Runs a query with the shared client; an unreachable or failing Postgres is 503, never a crash. */
  async function withPostgres<T>(run: (sql: Awaited<ReturnType<ReceiverContext["postgres"]>>) => Promise<T>) {
    let timeout: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        postgres().then(run),
        new Promise<never>((_, reject) => {
          timeout = setTimeout(() => reject(new Error("timed out")), options.historyTimeoutMs);
        }),
      ]);
    } catch (err) {
      onHistoryUnavailable(err as Error);
      throw new AppError(
        503,
        "unavailable",
        "the statistics history (Postgres) is unavailable; try again later",
      );
    } finally {
      clearTimeout(timeout);
    }
  }

  return app;
}
