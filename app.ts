/** Builds the Hono app from injected dependencies; service.ts serves it (http/listener.ts). */
import { Hono } from "hono";
import type { LoginLimiter } from "./auth/login_limit.ts";
import type { AuthService } from "./auth/service.ts";
import type { ActivityMonitor } from "./core/activity.ts";
import type { AgentIdLimit } from "./core/agent_ids.ts";
import type { AppEnv } from "./http/app_env.ts";
import { headLength } from "./http/head_length.ts";
import type { ByteBudget } from "./http/byte_budget.ts";
import type { Bus } from "./core/bus.ts";
import type { Family, HttpMetrics } from "./http/prometheus.ts";
import type { ReceiverRunner } from "./core/runner.ts";
import { ROUTE_GROUPS, type RouteGroup } from "./core/config.ts";
import { handleError } from "./http/errors.ts";
import { createNotFound } from "./http/not_found.ts";
import type { SharedBlocks } from "./core/shared_blocks.ts";
import type { Receiver } from "./core/receiver.ts";
import { createAuthRoutes } from "./routes/auth.ts";
import { createOpsRoutes } from "./routes/ops.ts";
import type { EthstatsRoutes } from "./ingress/ethstats/routes.ts";
import { createProtocolRoutes } from "./routes/protocol.ts";

/** Everything the routes need; created by main.ts (or a test). */
export interface AppDeps {
  auth: AuthService;
  limiter: LoginLimiter;
  bus: Bus;
  activity: ActivityMonitor;
  metrics: readonly string[];
  bodyLimitBytes: number;
  /** Bytes of request bodies being received, per user and in all (http/byte_budget.ts). */
  bodyBudget?: ByteBudget;
  /** One copy per block among the agents' and nodes' equal block reports. */
  blocks?: SharedBlocks;
  /** The agent ids each user may report under (core/agent_ids.ts). */
  agentIds?: AgentIdLimit;
  /** Receivers that serve routes of their own (the dashboard websocket). */
  receivers: readonly Receiver[];
  /** Receiver queues (for /metrics). */
  runners: readonly ReceiverRunner[];
  ready: () => boolean;
  /** Request counts and latency, shared by every listener of the service. */
  httpMetrics?: HttpMetrics;
  extraMetrics?: () => Family[];
  /** The ethstats websocket handler: one per service, shared by every listener. */
  ethstats?: Pick<EthstatsRoutes, "app">;
}

/** Builds the app serving `groups` (all of them by default). */
export function createApp(deps: AppDeps, groups: readonly RouteGroup[] = ROUTE_GROUPS): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.onError(handleError);
  app.notFound(createNotFound(app));
  app.use("*", headLength);
  if (deps.httpMetrics) app.use("*", deps.httpMetrics.middleware);
  const serves = new Set(groups);
  if (serves.has("ops")) app.route("/", createOpsRoutes(deps));
  if (serves.has("auth")) app.route("/", createAuthRoutes(deps));
  if (serves.has("protocol")) app.route("/", createProtocolRoutes(deps));
  if (serves.has("protocol") && deps.ethstats) app.route("/", deps.ethstats.app);
  for (const receiver of deps.receivers) {
    if (receiver.routes && serves.has(receiver.routes.group)) app.route("/", receiver.routes.app);
  }
  return app;
}
