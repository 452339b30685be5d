/** Test harness: an in-process app over real (in-memory) Deno KV and a recording receiver. */
import { encode } from "@msgpack/msgpack";
import { createApp } from "../../app.ts";
import { createKvAuthStore } from "../../auth/kv_store.ts";
import { createLoginLimiter, type LoginLimiter } from "../../auth/login_limit.ts";
import { type AuthService, createAuthService } from "../../auth/service.ts";
import { type ActivityMonitor, createActivityMonitor } from "../../core/activity.ts";
import { type Bus, createLocalBus } from "../../core/bus.ts";
import { DEFAULT_METRICS } from "../../core/config.ts";
import { createHttpMetrics } from "../../http/prometheus.ts";
import type { Message } from "../../core/message.ts";
import { createReceiverRunner, type ReceiverRunner } from "../../core/runner.ts";
import { createSharedBlocks, type SharedBlocks } from "../../core/shared_blocks.ts";
import type { Receiver, ReceiverType } from "../../core/receiver.ts";
import { z } from "zod";

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
  app: ReturnType<typeof createApp>;
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  recorder: RecordingReceiver;
  runner: ReceiverRunner;
  blocks: SharedBlocks;
  limiter: LoginLimiter;
  kv: Deno.Kv;
  close(): Promise<void>;
}

export interface HarnessOptions {
  ttlSeconds?: number;
  maxFailures?: number;
  windowSeconds?: number;
  inactivityTimeoutMs?: number;
  bodyLimitBytes?: number;
  now?: () => number;
}

/** Builds an app with every route group over an in-memory KV. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness> {
  const kv = await Deno.openKv(":memory:");
  const auth = await createAuthService({
    store: createKvAuthStore(kv),
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ttlSeconds: options.ttlSeconds ?? 3600,
    admins: [ADMIN],
    now: options.now,
  });
  const limiter = createLoginLimiter({
    maxFailures: options.maxFailures ?? 0,
    windowSeconds: options.windowSeconds ?? 60,
    now: options.now,
  });
  const recorder = recordingReceiver();
  const runner = createReceiverRunner(recorder);
  await runner.start();
  const bus = createLocalBus([{ runner, subscribe: DEFAULT_METRICS }]);
  const activity = createActivityMonitor({
    timeoutMs: options.inactivityTimeoutMs ?? 7000,
    onInactive: (id) => bus.inactive(id),
  });
  const blocks = createSharedBlocks();
  const app = createApp({
    auth,
    limiter,
    bus,
    activity,
    metrics: DEFAULT_METRICS,
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    blocks,
    receivers: [],
    runners: [runner],
    ready: () => true,
    httpMetrics: createHttpMetrics(),
  });
  return {
    app,
    auth,
    bus,
    activity,
    recorder,
    runner,
    blocks,
    limiter,
    kv,
    async close() {
      activity.close();
      await runner.drain(1000);
      auth.close();
      kv.close();
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
