/** The ops route group: health (and metrics). */
import { Hono } from "hono";
import type { AppEnv } from "../core/app_env.ts";
import { AppError } from "../core/errors.ts";

export interface OpsRoutesDeps {
  /** True once every listener and receiver is up. */
  ready: () => boolean;
}

/** Builds the ops sub-app. */
export function createOpsRoutes(deps: OpsRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get("/healthz", (c) => {
    if (!deps.ready()) throw new AppError(503, "not_ready", "the service is starting or stopping");
    return c.json({ status: "ok" });
  });
  return app;
}
