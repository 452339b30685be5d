/** The protocol route group (original CustomHandler.REST): /ping, /data, /bye for agents. */
import { Hono } from "hono";
import type { Context } from "hono";
import { z } from "zod";
import { parseBearer } from "../auth/headers.ts";
import type { AuthService, TokenCheck } from "../auth/service.ts";
import type { ActivityMonitor } from "../core/activity.ts";
import { type AppEnv, clientAddress } from "../http/app_env.ts";
import { decodeMap, encodingOf, readLimited, refuseContentCoding, validate } from "../http/body.ts";
import type { ByteBudget } from "../http/byte_budget.ts";
import type { Bus } from "../core/bus.ts";
import { AppError } from "../http/errors.ts";
import { agentIdSchema, idempotentId, type Message } from "../core/message.ts";
import type { AgentIdLimit } from "../core/agent_ids.ts";
import { shareBlockPayload, type SharedBlocks } from "../core/shared_blocks.ts";

export interface ProtocolRoutesDeps {
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  /** Accepted metric types for /data. */
  metrics: readonly string[];
  bodyLimitBytes: number;
  /** When given, equal block reports of many agents share one object (core/shared_blocks.ts). */
  blocks?: SharedBlocks;
  /** Bytes of bodies being received, per user and in all (http/byte_budget.ts). */
  bodyBudget?: ByteBudget;
  /** The agent ids each user may report under (core/agent_ids.ts); none: any number. */
  agentIds?: AgentIdLimit;
}

const agentId = agentIdSchema;
const idBody = z.object({ id: agentId });
/** An agent's `Idempotency-Key`: its resend of a report carries the same key (README, Protocol). */
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;

/** A JSON object (a map once decoded), kept as it is: no copy of the agent's payload. */
function isMap(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

const WWW_BEARER = { "www-authenticate": 'Bearer realm="poa-backend"' };

/** The 401 for a failed token check. */
function tokenError(check: Exclude<TokenCheck, { ok: true }>): AppError {
  return check.reason === "expired"
    ? new AppError(
      401,
      "token_expired",
      "the token has expired; get a new one from POST /session",
      WWW_BEARER,
    )
    : new AppError(401, "unauthorized", "the token is not valid", WWW_BEARER);
}

/** The answer to every accepted report (one string, made once). */
const SUCCESS = JSON.stringify({ result: "success" });
const JSON_TYPE = { "content-type": "application/json" };
/** Retry-After of a 503 `overloaded`: a spill write (one fsync) frees room well within it. */
const OVERLOADED_RETRY_AFTER_S = 1;

/** Builds the protocol sub-app. */
export function createProtocolRoutes(deps: ProtocolRoutesDeps): Hono<AppEnv> {
  const { auth, bus, activity, blocks, agentIds } = deps;
  const metrics = new Set(deps.metrics);
  const limit = deps.bodyLimitBytes;
  const dataBody = z.object({
    id: agentId,
    type: z.string({ error: "must be a string" }).refine((t) => metrics.has(t), {
      message: `must be one of ${[...metrics].join(", ")}`,
    }),
    data: z.custom<Record<string, unknown>>(isMap, { error: "must be an object" }),
  });

  /**
   * What every protocol route checks, in this order and in one function (the hot path of the
   * service): a JSON/msgpack content type, even for an empty body (415); a valid bearer token of
   * an existing, active user (401); then the body: size (413), decoding (400), shape (422), and
   * the route's own `check` of the request; last the agent id, one of the ids its user may report
   * under (429): only a request that is otherwise accepted takes a place.
   */
  async function accept<S extends z.ZodType<{ id: string }>>(
    c: Context<AppEnv>,
    schema: S,
    check?: () => void,
  ): Promise<{ value: z.infer<S>; bytes: number; user: string }> {
    const req = c.req.raw;
    const encoding = encodingOf(req.headers.get("content-type"));
    if (encoding === null) {
      throw new AppError(
        415,
        "unsupported_media_type",
        "send content-type application/json or application/msgpack",
      );
    }
    const token = parseBearer(req.headers.get("authorization"));
    if (!token) throw new AppError(401, "unauthorized", "send Authorization: Bearer <token>", WWW_BEARER);
    const changes = auth.changes; // before the check: a change while it is awaited counts too
    const pending = auth.checkToken(token);
    const verified = pending instanceof Promise ? await pending : pending;
    if (!verified.ok) throw tokenError(verified);
    refuseContentCoding(req);
    const body = await readLimited(req, { limit, budget: deps.bodyBudget, user: verified.user });
    // A body can take minutes to come: a ban, deactivation or deletion meanwhile refuses it.
    if (auth.changes !== changes) {
      const again = auth.checkToken(token);
      const recheck = again instanceof Promise ? await again : again;
      if (!recheck.ok) throw tokenError(recheck);
    }
    const value = validate(schema, decodeMap(body, encoding));
    check?.();
    if (agentIds !== undefined) {
      const now = Date.now();
      if (!agentIds.admit(verified.user, value.id, now)) {
        throw new AppError(
          429,
          "agent_id_limit",
          `user ${verified.user} reports under as many agent ids as it may (agentIds.maxPerUser); ` +
            "an id not reported under for agentIds.forgetAfterMs frees a place",
          { "retry-after": String(agentIds.retryAfterSeconds(verified.user, now)) },
        );
      }
    }
    return { value, bytes: body.byteLength, user: verified.user };
  }

  const app = new Hono<AppEnv>();

  app.post("/ping", async (c) => {
    const { id } = (await accept(c, idBody)).value;
    activity.ping(id);
    return c.body(SUCCESS, 200, JSON_TYPE);
  });

  app.post("/data", async (c) => {
    const key = c.req.header("idempotency-key");
    // After the content type, the token and the body (as on every route), before the agent id
    // takes a place: refused, a report keeps none (a bad key under new ids had filled a user's).
    const { value, bytes, user } = await accept(c, dataBody, () => {
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new AppError(
          422,
          "invalid_idempotency_key",
          "Idempotency-Key must be 1-200 visible ASCII characters (no space)",
        );
      }
    });
    // A report is a sign of life as a ping is: an agent that reports is never left "active" for
    // good without ever pinging, nor left inactive after a /bye when it reports again.
    activity.ping(value.id);
    // Every field set in one literal (one object shape; a spread would copy an object first).
    const message: Message = {
      id: key === undefined ? crypto.randomUUID() : idempotentId(user, value.id, value.type, key),
      agentId: value.id,
      dataType: value.type,
      messageType: "data",
      data: blocks ? shareBlockPayload(blocks, value.data) : value.data,
      receivedAt: Date.now(),
      bytes,
      address: clientAddress(c),
      user,
    };
    if (key !== undefined) message.idempotent = true;
    const published = bus.publish(message);
    // The local bus answers at once; the cluster bus resolves on the broker's ack.
    const result = published instanceof Promise ? await published : published;
    if (result.state === "overloaded") {
      throw new AppError(
        503,
        "overloaded",
        `receiver(s) ${result.receivers.join(", ")} cannot take more reports now; send this one again`,
        { "retry-after": String(OVERLOADED_RETRY_AFTER_S) },
      );
    }
    return c.body(SUCCESS, 200, JSON_TYPE);
  });

  app.post("/bye", async (c) => {
    const { id } = (await accept(c, idBody)).value;
    activity.bye(id);
    return c.body(SUCCESS, 200, JSON_TYPE);
  });

  return app;
}
