/** Test harness: the service as built for production, in process, over in-memory Deno KV and a recording receiver. */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import type { Hono } from "hono";
import type { LoginLimiter } from "../../auth/login_limit.ts";
import type { AuthService } from "../../auth/service.ts";
import type { ActivityMonitor } from "../../core/activity.ts";
import type { Bus } from "../../core/bus.ts";
import { DEFAULT_METRICS, parseConfig } from "../../core/config.ts";
import type { Message } from "../../core/message.ts";
import type { ReceiverRunner } from "../../core/runner.ts";
import type { SharedBlocks } from "../../core/shared_blocks.ts";
import type { AppEnv } from "../../http/app_env.ts";
import { builtinReceiverTypes } from "../../receivers/registry.ts";
import { buildService } from "../../service.ts";
import type { Receiver, ReceiverType } from "../../core/receiver.ts";
import { z } from "zod";
export { freePort } from "../../core/ports.ts";

export const ADMIN = { name: "root", password: "root-password-123" };

/** A config-driven test receiver type (for startTestService); every instance records into `seen[id]`. */
export function recorderType(
  seen: Record<string, { messages: Message[]; inactive: string[] }>,
): ReceiverType {
  return {
    options: z.object({}).strict(),
    create(_options, context) {
      const record: { messages: Message[]; inactive: string[] } = { messages: [], inactive: [] };
      seen[context.config.id] = record;
      return {
        id: context.config.id,
        durable: false,
        receive(batch) {
          record.messages.push(...batch);
          return Promise.resolve();
        },
        inactive(agentId) {
          record.inactive.push(agentId);
        },
      };
    },
  };
}

/** A live receiver that records what it gets. */
export interface RecordingReceiver extends Receiver {
  messages: Message[];
  inactiveAgents: string[];
}

/** Creates a receiver that records batches (for routing and delivery assertions). */
export function recordingReceiver(id = "recorder"): RecordingReceiver {
  const messages: Message[] = [];
  const inactiveAgents: string[] = [];
  return {
    id,
    durable: false,
    messages,
    inactiveAgents,
    receive(batch) {
      messages.push(...batch);
      return Promise.resolve();
    },
    inactive(agentId) {
      inactiveAgents.push(agentId);
    },
  };
}

export interface Harness {
  app: Hono<AppEnv>;
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  recorder: RecordingReceiver;
  runner: ReceiverRunner;
  blocks: SharedBlocks;
  limiter: LoginLimiter;
  close(): Promise<void>;
}

export interface HarnessOptions {
  ttlSeconds?: number;
  maxFailures?: number;
  windowSeconds?: number;
  inactivityTimeoutMs?: number;
  bodyLimitBytes?: number;
  now?: () => number;
  /** Builds the ethstats handler too (no socket reaches it through `app.request`). */
  ethstats?: boolean;
  /** `agentIds.maxPerUser` (default the service's). */
  maxAgentIdsPerUser?: number;
}

/**
 * The service as service.ts builds it (buildService: the same wiring as in production) over an
 * in-memory Deno KV, with one recording receiver on every metric type and no listener: tests
 * call `app.request`. ethstats is off unless asked for (its tests build its handler themselves).
 */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dataDir = await Deno.makeTempDir({ prefix: "poa-harness-" });
  const recorder = recordingReceiver();
  const types = builtinReceiverTypes();
  types.set("recorder", { options: z.object({}).strict(), create: () => recorder });
  const config = parseConfig({
    listen: [{ hostname: "127.0.0.1", port: 0 }],
    admins: [ADMIN],
    jwt: { secret: crypto.randomUUID() + crypto.randomUUID(), ttlSeconds: options.ttlSeconds ?? 3600 },
    kv: { path: ":memory:" },
    dataDir,
    loginLimit: { maxFailures: options.maxFailures ?? 0, windowSeconds: options.windowSeconds ?? 60 },
    inactivityTimeoutMs: options.inactivityTimeoutMs ?? 7000,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    ethstats: { enabled: options.ethstats ?? false },
    ...(options.maxAgentIdsPerUser === undefined
      ? {}
      : { agentIds: { maxPerUser: options.maxAgentIdsPerUser } }),
    receivers: [{ id: "recorder", type: "recorder", subscribe: DEFAULT_METRICS }],
  });
  const built = await buildService(config, { receiverTypes: types, log: () => {}, now: options.now });
  built.markReady();
  return {
    app: built.app(),
    auth: built.auth,
    bus: built.bus,
    activity: built.activity,
    recorder,
    runner: built.runners[0]!,
    blocks: built.blocks,
    limiter: built.limiter,
    async close() {
      await built.shutdown();
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    },
  };
}

/** Runs `fn` with a fresh harness and closes it afterwards. */
export async function withHarness(
  fn: (h: Harness) => Promise<void>,
  options: HarnessOptions = {},
): Promise<void> {
  const h = await createHarness(options);
  try {
    await fn(h);
  } finally {
    await h.close();
  }
}

/** `Authorization: Basic …` for a user and password. */
export function basic(user: string, password: string): string {
  return "Basic " + btoa(`${user}:${password}`);
}

/** The test admin's Basic authorization header. */
export const adminAuth = { authorization: basic(ADMIN.name, ADMIN.password) };

/** Creates an agent user through the admin API. */
export async function createUser(base: string, name: string, password: string): Promise<void> {
  const res = await fetch(`${base}/user`, {
    method: "POST",
    headers: { ...adminAuth, "content-type": "application/json" },
    body: JSON.stringify({ "user-name": name, password }),
  });
  assert.equal(res.status, 200, await res.text());
}

export type Encoding = "json" | "msgpack";
export const ENCODINGS: Encoding[] = ["json", "msgpack"];

/** A request init with a body in the given encoding. */
export function withBody(
  encoding: Encoding,
  body: unknown,
  init: { method?: string; headers?: Record<string, string> } = {},
): RequestInit {
  return {
    method: init.method ?? "POST",
    headers: {
      "content-type": encoding === "json" ? "application/json" : "application/msgpack",
      ...init.headers,
    },
    body: encoding === "json" ? JSON.stringify(body) : encode(body),
  };
}

/** Creates a user through the admin API and returns a session token for it. */
export async function userWithToken(
  h: Harness,
  encoding: Encoding = "json",
): Promise<{ user: string; password: string; token: string }> {
  const user = "u" + crypto.randomUUID().slice(0, 8);
  const password = "pw-" + crypto.randomUUID();
  const created = await h.app.request(
    "/user",
    withBody(encoding, { "user-name": user, password }, {
      headers: { authorization: basic(ADMIN.name, ADMIN.password) },
    }),
  );
  if (created.status !== 200) throw new Error(`create user: ${created.status} ${await created.text()}`);
  const session = await h.app.request("/session", {
    method: "POST",
    headers: { authorization: basic(user, password) },
  });
  if (session.status !== 200) throw new Error(`session: ${session.status} ${await session.text()}`);
  const { token } = await session.json();
  return { user, password, token };
}

/** Polls `predicate` every 10 ms for at most `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 3000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
