/** The protocol route group (original CustomHandler.REST): /ping, /data, /bye for agents. */
import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import { parseBearer } from "../auth/headers.ts";
import type { AuthService } from "../auth/service.ts";
import type { ActivityMonitor } from "../core/activity.ts";
import type { AppEnv } from "../core/app_env.ts";
import { encodingOf, readBody } from "../core/body.ts";
import type { Bus } from "../core/bus.ts";
import { AppError } from "../core/errors.ts";

export interface ProtocolRoutesDeps {
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  /** Accepted metric types for /data. */
  metrics: readonly string[];
  bodyLimitBytes: number;
}

const agentId = z.string({ error: "must be a string" }).min(1, "must not be empty").max(
  256,
  "must be at most 256 characters",
);
const idBody = z.object({ id: agentId });

const WWW_BEARER = { "www-authenticate": 'Bearer realm="poa-backend"' };

/** Middleware factory: a valid bearer token whose user exists and is active. */
export function requireAgentToken(auth: AuthService): MiddlewareHandler<AppEnv> {
  return async function requireAgentTokenMiddleware(c, next) {
    const token = parseBearer(c.req.header("authorization"));
    if (!token) throw new AppError(401, "unauthorized", "send Authorization: Bearer <token>", WWW_BEARER);
    const check = await auth.checkToken(token);
    if (!check.ok) {
      if (check.reason === "expired") {
        throw new AppError(
          401,
          "token_expired",
          "the token has expired; get a new one from POST /session",
          WWW_BEARER,
        );
      }
      throw new AppError(401, "unauthorized", "the token is not valid", WWW_BEARER);
    }
    c.set("user", check.user);
    await next();
  };
}

/** Middleware: 415 without a JSON/msgpack content type, even for an empty body. */
const requireContentType: MiddlewareHandler<AppEnv> = async function requireContentType(c, next) {
  if (encodingOf(c.req.header("content-type")) === null) {
    throw new AppError(
      415,
      "unsupported_media_type",
      "send content-type application/json or application/msgpack",
    );
  }
  await next();
};

const SUCCESS = { result: "success" } as const;
/** Retry-After of a 503 `overloaded`: a spill write (one fsync) frees room well within it. */
const OVERLOADED_RETRY_AFTER_S = 1;

/** Builds the protocol sub-app. */
export function createProtocolRoutes(deps: ProtocolRoutesDeps): Hono<AppEnv> {
  const { bus, activity } = deps;
  const metrics = new Set(deps.metrics);
  const bodyOptions = { limit: deps.bodyLimitBytes, allowEmptyWithoutType: false };
  const dataBody = z.object({
    id: agentId,
    type: z.string({ error: "must be a string" }).refine((t) => metrics.has(t), {
      message: `must be one of ${[...metrics].join(", ")}`,
    }),
    data: z.record(z.string(), z.unknown(), { error: "must be an object" }),
  });

  const app = new Hono<AppEnv>();
  // Per route, not "*": this sub-app is mounted at "/" beside the other groups.
  const guard = [requireContentType, requireAgentToken(deps.auth)] as const;

  app.post("/ping", ...guard, async (c) => {
    const { value } = await readBody(c, idBody, bodyOptions);
    activity.ping(value.id);
    return c.json(SUCCESS);
  });

  app.post("/data", ...guard, async (c) => {
    const { value } = await readBody(c, dataBody, bodyOptions);
    const result = await bus.publish({
      id: crypto.randomUUID(),
      agentId: value.id,
      dataType: value.type,
      messageType: "data",
      data: value.data,
      receivedAt: Date.now(),
    });
    if (result.state === "overloaded") {
      throw new AppError(
        503,
        "overloaded",
        `receiver(s) ${result.receivers.join(", ")} cannot take more reports now; send this one again`,
        { "retry-after": String(OVERLOADED_RETRY_AFTER_S) },
      );
    }
    return c.json(SUCCESS);
  });

  app.post("/bye", ...guard, async (c) => {
    const { value } = await readBody(c, idBody, bodyOptions);
    activity.bye(value.id);
    return c.json(SUCCESS);
  });

  return app;
}
