/** The auth route group: sessions for agents, user administration and bans for admins. */
import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { parseBasic } from "../auth/headers.ts";
import { attemptOutcome, type LoginLimiter, type LoginScope } from "../auth/login_limit.ts";
import { type AuthService, type LoginOutcome, USER_NAME } from "../auth/service.ts";
import { type AppEnv, clientKey } from "../http/app_env.ts";
import { readBody, refuseUnreadBody } from "../http/body.ts";
import type { ByteBudget } from "../http/byte_budget.ts";
import type { AgentIdLimit } from "../core/agent_ids.ts";
import { AppError } from "../http/errors.ts";

export interface AuthRoutesDeps {
  auth: AuthService;
  limiter: LoginLimiter;
  bodyLimitBytes: number;
  /** Bytes of bodies being received, per user and in all (http/byte_budget.ts). */
  bodyBudget?: ByteBudget;
  /** The agent ids each user holds: a deleted user's are forgotten (core/agent_ids.ts). */
  agentIds?: AgentIdLimit;
}

/** `agent-id` and any other field are informational (DESIGN.md): a map of anything logs in. */
const sessionBody = z.object({});
const createUserBody = z.object({
  "user-name": z.string().regex(USER_NAME, "must be 1-64 of [A-Za-z0-9_.@-]")
    // curl and every URL library turn /user/. and /user/.. into other paths: such a user could not be managed.
    .refine((name) => name !== "." && name !== "..", "must not be . or ..").optional(),
  password: z.string().min(8, "must be at least 8 characters").max(256).optional(),
});
const patchUserBody = z.object({ active: z.boolean({ error: "must be a boolean" }) });
const tokenBody = z.object({ token: z.unknown().optional() });
const userBody = z.object({ user: z.unknown().optional() });

/** RFC 7617: credentials are read as UTF-8 (others are refused), and the challenge says so. */
const BASIC_CHALLENGE = { "www-authenticate": 'Basic realm="poa-backend", charset="UTF-8"' };

/**
 * Checks Basic credentials under the login limit (auth/login_limit.ts): 429 while locked, 401
 * when wrong. `verify` says how the credentials fared; a right password of an inactive user is
 * refused without counting as a guess.
 */
async function basicLogin(
  c: Context<AppEnv>,
  limiter: LoginLimiter,
  scope: LoginScope,
  verify: (user: string, password: string) => LoginOutcome | Promise<LoginOutcome>,
): Promise<string> {
  const creds = parseBasic(c.req.header("authorization"));
  if (!creds) {
    // No password was tried, so nothing is counted: counted on the address alone (no name to pair
    // it with), a client sending none locked out every user and admin behind its address.
    throw new AppError(
      401,
      "unauthorized",
      "send Authorization: Basic base64(user:password), with a user name and a password, in UTF-8",
      BASIC_CHALLENGE,
    );
  }
  const start = limiter.begin(scope, clientKey(c), creds.user);
  if (start.limited) {
    throw new AppError(429, "too_many_attempts", "too many failed logins; retry later", {
      "retry-after": String(start.retryAfterSeconds),
    });
  }
  let outcome: LoginOutcome | undefined;
  try {
    outcome = await verify(creds.user, creds.password);
  } finally {
    start.attempt.settle(attemptOutcome(outcome)); // undefined: it threw (the auth store away: 503)
  }
  if (outcome !== "ok") {
    throw new AppError(401, "unauthorized", "wrong user name or password, or inactive user", BASIC_CHALLENGE);
  }
  return creds.user;
}

/** Middleware factory: the request must carry an admin's Basic credentials. */
export function requireAdmin(deps: AuthRoutesDeps): MiddlewareHandler<AppEnv> {
  return async function requireAdminMiddleware(c, next) {
    await basicLogin(
      c,
      deps.limiter,
      "admin",
      (user, password) => deps.auth.isAdmin(user, password) ? "ok" : "wrong",
    );
    await next();
  };
}

/** Builds the auth sub-app. */
export function createAuthRoutes(deps: AuthRoutesDeps): Hono<AppEnv> {
  const { auth } = deps;
  /** Admins' bodies count under the name "" (no user has it). */
  const bodyOptions = {
    limit: deps.bodyLimitBytes,
    allowEmptyWithoutType: true,
    budget: deps.bodyBudget,
    user: "",
  };
  const app = new Hono<AppEnv>();

  app.post("/session", async (c) => {
    const user = await basicLogin(c, deps.limiter, "agent", (u, p) => auth.login(u, p));
    // Read in the login's own turn: the body may take a while to come, and a ban or a
    // re-creation of the user meanwhile must leave the token made after it dead.
    const epoch = auth.activeEpoch(user);
    if (epoch === undefined) {
      throw new AppError(
        401,
        "unauthorized",
        "wrong user name or password, or inactive user",
        BASIC_CHALLENGE,
      );
    }
    await readBody(c, sessionBody, { ...bodyOptions, user });
    return c.json({ token: await auth.issueToken(user, epoch) });
  });

  const admin = requireAdmin(deps);

  app.post("/user", admin, async (c) => {
    const { value } = await readBody(c, createUserBody, bodyOptions);
    const result = await auth.createUser(value["user-name"], value.password);
    if (!result.ok) throw new AppError(409, "user_exists", "that user name is taken");
    return c.json({ "user-name": result.name, password: result.password });
  });

  app.get("/user", admin, async (c) => {
    refuseUnreadBody(c.req.raw);
    const users = await auth.listUsers();
    return c.json(users.map((u) => ({ user: u.name, active: u.active, created_at: u.createdAt })));
  });

  app.delete("/user/:name", admin, async (c) => {
    refuseUnreadBody(c.req.raw);
    const name = c.req.param("name");
    if (!USER_NAME.test(name) || !(await auth.deleteUser(name))) {
      throw new AppError(404, "user_not_found", "no such user");
    }
    deps.agentIds?.forgetUser(name);
    return c.body(null, 204);
  });

  app.patch("/user/:name", admin, async (c) => {
    const name = c.req.param("name");
    const { value } = await readBody(c, patchUserBody, bodyOptions);
    if (!USER_NAME.test(name) || !(await auth.setActive(name, value.active))) {
      throw new AppError(404, "user_not_found", "no such user");
    }
    return c.body(null, 204);
  });

  app.post("/blacklist/token", admin, async (c) => {
    const { value } = await readBody(c, tokenBody, bodyOptions);
    const token = value.token;
    if (typeof token !== "string" || token.length > 8192 || !(await auth.banToken(token))) {
      throw new AppError(404, "token_not_found", "not a currently valid token");
    }
    return c.json({ result: "success" });
  });

  app.post("/blacklist/user", admin, async (c) => {
    const { value } = await readBody(c, userBody, bodyOptions);
    const name = value.user;
    if (typeof name !== "string" || !USER_NAME.test(name) || !(await auth.setActive(name, false))) {
      throw new AppError(404, "user_not_found", "no such user");
    }
    return c.json({ result: "success" });
  });

  return app;
}
