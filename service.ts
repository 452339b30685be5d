/**
 * Wires a running service from a validated Config: KV, auth, database, receivers and their
 * queues, the bus, the activity monitor and the listeners. main.ts adds signals; tests call
 * `startService` directly to run as many independent services as they like.
 */
import { resolve } from "node:path";
import type { Hono } from "hono";
import type postgres from "postgres";
import { createApp } from "./app.ts";
import { createLoginLimiter, type LoginLimiter } from "./auth/login_limit.ts";
import { randomString } from "./auth/password.ts";
import { type AuthService, createAuthService } from "./auth/service.ts";
import { withDeadline } from "./auth/store.ts";
import type { ActivityMonitor } from "./core/activity.ts";
import { createAgentIdLimit, openAgentIdsFile } from "./core/agent_ids.ts";
import { secretFile } from "./core/files.ts";
import { openDataDir, openKvFile } from "./core/data_dir.ts";
import { createIngressMeter } from "./core/ingress.ts";
import type { Bus } from "./core/bus.ts";
import {
  type Config,
  ConfigError,
  defaultReceivers,
  metricsWithoutReceiver,
  ROUTE_GROUPS,
  type RouteGroup,
} from "./core/config.ts";
import { createByteBudget } from "./http/byte_budget.ts";
import { createHttpMetrics } from "./http/prometheus.ts";
import { createReceiverRunner, type ReceiverRunner } from "./core/runner.ts";
import { listenSupervised, type SupervisedListener } from "./http/listener.ts";
import { createSharedBlocks, type SharedBlocks } from "./core/shared_blocks.ts";
import type { AppEnv } from "./http/app_env.ts";
import { checkEmbeddedDir, openDatabase } from "./db/database.ts";
import { buildReceiver, builtinReceiverTypes, receiversNeedPostgres } from "./receivers/registry.ts";
import { createEthstatsRoutes, type EthstatsRoutes } from "./ingress/ethstats/routes.ts";
import type { Receiver, ReceiverType } from "./core/receiver.ts";
import { spillDir, spillDirName, spillRoot, unopenedSpills } from "./core/spill.ts";
import { openRuntime } from "./runtime/runtime.ts";
import { serviceFamilies } from "./service_metrics.ts";

export interface ServiceOptions {
  /** Receiver types by name (default: the built-in ones); tests add their own. */
  receiverTypes?: ReadonlyMap<string, ReceiverType>;
  /** Environment for generated secrets (POA_WS_SECRET). */
  env?: { POA_WS_SECRET?: string };
  /** Log lines (default console.log). */
  log?: (line: string) => void;
  /** Clock for tokens and the login limit (tests move it). */
  now?: () => number;
  /** Stray network errors the process survived so far (main.ts's guard, core/stray_errors.ts). */
  strayErrors?: () => number;
}

/** A bound listener. */
export interface ListenerInfo {
  hostname: string;
  port: number;
  tls: boolean;
  routes: readonly string[];
}

/** The service built from a config, everything but its listeners (tests use it without any). */
export interface BuiltService {
  auth: AuthService;
  bus: Bus;
  activity: ActivityMonitor;
  limiter: LoginLimiter;
  runners: ReceiverRunner[];
  receivers: Receiver[];
  ethstats?: EthstatsRoutes;
  blocks: SharedBlocks;
  /** The Hono app serving `routes` (every group when omitted). */
  app(routes?: readonly RouteGroup[]): Hono<AppEnv>;
  /** Counts a listener in /metrics and closes it on shutdown, before the queues drain. */
  addListener(listener: SupervisedListener): void;
  /** /healthz answers ok from now on (until shutdown). */
  markReady(): void;
  /**
   * Closes the ethstats sockets (their nodes reported inactive), the listeners, then drains the
   * queues into the receivers and closes everything. Idempotent.
   */
  shutdown(): Promise<void>;
}

/** A running service: built, and listening. */
export interface Service extends BuiltService {
  listeners: ListenerInfo[];
}

/** A listener's certificate and key, or a ConfigError naming the key of the file it could not read. */
async function readTls(
  files: { certFile: string; keyFile: string },
  index: number,
): Promise<{ cert: string; key: string }> {
  const read = (key: "certFile" | "keyFile") =>
    Deno.readTextFile(files[key]).catch((err) => {
      throw new ConfigError(
        `listen.${index}.tls.${key}: cannot read ${resolve(files[key])}: ${(err as Error).message}`,
      );
    });
  return { cert: await read("certFile"), key: await read("keyFile") };
}

/** Starts the whole service from a validated config: builds it, then listens as `config.listen` says. */
export async function startService(config: Config, options: ServiceOptions = {}): Promise<Service> {
  const log = options.log ?? ((line: string) => console.log(line));
  // Every listener's certificate is read before anything starts: a missing file is one line
  // naming its key, not a failure after other listeners, Postgres and the receivers started.
  const tls = await Promise.all(config.listen.map((listen, i) => listen.tls && readTls(listen.tls, i)));
  const built = await buildService(config, options);
  const trustedProxies = config.trustedProxies.length > 0 ? new Set(config.trustedProxies) : undefined;
  try {
    const listeners: ListenerInfo[] = [];
    for (const [i, listen] of config.listen.entries()) {
      const app = built.app(listen.routes);
      const server = listenSupervised({
        hostname: listen.hostname,
        port: listen.port,
        tls: tls[i],
        // Only remoteAddr is read: Deno makes `info.completed` (a promise) when it is touched.
        handler: trustedProxies
          ? (req, info) => app.fetch(req, { remoteAddr: info.remoteAddr, trustedProxies })
          : (req, info) => app.fetch(req, info),
        onError: (err: unknown) => {
          console.error("listener error:", err);
          return new Response(JSON.stringify({ error: "internal_error", message: "internal server error" }), {
            status: 500,
            headers: { "content-type": "application/json" },
          });
        },
        log,
      });
      built.addListener(server);
      const addr = server.addr;
      listeners.push({ hostname: addr.hostname, port: addr.port, tls: !!listen.tls, routes: listen.routes });
      log(
        `listening on ${listen.tls ? "https" : "http"}://${addr.hostname}:${addr.port} (${
          listen.routes.join(", ")
        })`,
      );
    }
    const files = openFilesLimit();
    if (files !== null) {
      log(
        `open files: at most ${files} (each connection takes one; raise with ulimit -n / prlimit / LimitNOFILE= ` +
          `for more connections)`,
      );
    }
    built.markReady();
    return { ...built, listeners };
  } catch (err) {
    await built.shutdown();
    throw err;
  }
}

/** This process's soft limit on open files (Linux /proc), or null where it cannot be read. */
export function openFilesLimit(limits?: string): number | null {
  try {
    const text = limits ?? Deno.readTextFileSync("/proc/self/limits");
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!match) return null;
    return match[1] === "unlimited" ? Infinity : Number(match[1]);
  } catch {
    return null;
  }
}

/** Builds the service from a validated config: stores, receivers and their queues, the bus, the apps. */
export async function buildService(config: Config, options: ServiceOptions = {}): Promise<BuiltService> {
  const log = options.log ?? ((line: string) => console.log(line));
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (err) {
        console.error("shutdown step failed:", err);
      }
    }
  };

  try {
    // One service per data dir (its spill files, embedded Postgres, KV): released last.
    const lock = await openDataDir(config.dataDir);
    cleanups.push(() => lock.close());
    // Local, or cluster mode (config.cluster: NATS JetStream queue, shared auth state); closed last.
    const runtime = await openRuntime(config, { log });
    cleanups.push(() => runtime.close());
    const kv = runtime.usesKv ? await openKvFile(config) : undefined;
    if (kv) cleanups.push(() => kv.close());

    let database: Promise<Awaited<ReturnType<typeof openDatabase>>> | undefined;
    let closing = false;
    const postgresClient = async (): Promise<postgres.Sql> => {
      if (closing) throw new Error("the service is shutting down");
      if (!database) {
        database = openDatabase({ url: config.postgres.url, dataDir: config.dataDir });
        database.then(
          (db) =>
            log(
              db.embedded
                // Where to look into it (psql): a free port is picked at each start.
                ? `postgres: embedded server started on 127.0.0.1:${new URL(db.url).port} (user postgres, ` +
                  `password in ${config.dataDir}/postgres/password)`
                : "postgres: connected",
            ),
          () => {
            database = undefined; // retried by the receiver's init backoff
          },
        );
      }
      return (await database).sql;
    };
    // Registered before the drain step, so it runs after the queues have drained.
    cleanups.push(async () => {
      closing = true;
      await (await database?.catch(() => undefined))?.close();
    });

    const store = withDeadline(
      await runtime.openAuthStore({ kv, postgres: postgresClient }),
      config.authStoreTimeoutMs,
    );
    let secret = config.jwt.secret;
    if (!secret) {
      const stored = await store.ensureSecret(randomString(64));
      secret = stored.secret;
      if (stored.created) {
        log(
          "warning: no jwt.secret configured; generated one and stored it in the auth store (set POA_JWT_SECRET to choose it)",
        );
      }
    }
    let admins = config.admins;
    const generatedAdmin = `${config.dataDir}/admin-password`;
    if (admins.length === 0) {
      const pw = await secretFile(generatedAdmin, () => randomString(24));
      admins = [{ name: "admin", password: pw.value }];
      log(`warning: no admins configured; admin "admin" has the password in ${generatedAdmin}`);
    } else if (await Deno.remove(generatedAdmin).then(() => true, () => false)) {
      // A password generated by an earlier run, no longer an admin's: the README's commands that read it
      // (`--admin-password-file data/admin-password`) would get 401s with no hint why.
      log(
        `admins are configured: removed ${generatedAdmin}, an earlier run's generated password (no longer valid)`,
      );
    }
    const auth = await createAuthService({
      store,
      secret,
      ttlSeconds: config.jwt.ttlSeconds,
      admins,
      now: options.now,
    });
    cleanups.push(() => auth.close());
    const limiter = createLoginLimiter({ ...config.loginLimit, now: options.now });

    const types = options.receiverTypes ?? builtinReceiverTypes();
    const entries = config.receivers ?? defaultReceivers(config);
    if (config.postgres.url === undefined && receiversNeedPostgres(types, entries)) {
      // A server that can never start is a start-up error (one line, exit 2), not receivers retrying.
      await checkEmbeddedDir(config.dataDir).catch((err) => {
        throw new ConfigError((err as Error).message);
      });
    }
    const unread = metricsWithoutReceiver(config.metrics, entries);
    if (unread.length > 0) {
      // A receivers list replaces the default one whole: reports of these are answered 200 and go nowhere.
      log(
        `warning: no receiver subscribes to ${
          unread.join(", ")
        }: their reports are accepted and kept nowhere ` +
          "(a receivers list replaces the default one; README, Receivers and queues)",
      );
    }
    const receivers: Receiver[] = [];
    const runners: ReceiverRunner[] = [];
    // Bursts are seen in the ethstats frames (every node's block within a second of the others).
    const ingress = config.ethstats.enabled && config.queue.burstFramesPerSecond > 0
      ? createIngressMeter({ busyAtPerSecond: config.queue.burstFramesPerSecond })
      : undefined;
    /** The dashboard secret for feeds configured without one (read or generated once). */
    let sharedWsSecret: Promise<string> | undefined;
    const wsSecret = () =>
      sharedWsSecret ??= (async () => {
        const env = options.env?.POA_WS_SECRET;
        if (env) return env;
        const path = `${config.dataDir}/ws-secret`;
        log(`warning: a dashboard feed has no wsSecret; using the one in ${path}`);
        return (await secretFile(path, () => randomString(32))).value;
      })();
    for (const [i, entry] of entries.entries()) {
      for (const type of entry.subscribe) {
        if (!config.metrics.includes(type)) {
          log(`warning: receivers.${i} (${entry.id}) subscribes to "${type}", which is not in metrics`);
        }
      }
      const receiver = await buildReceiver(types, entry, i, {
        dataDir: config.dataDir,
        postgres: postgresClient,
        wsSecret,
      });
      receivers.push(receiver);
      runners.push(createReceiverRunner(runtime.wrapReceiver(receiver), {
        spillDir: spillDir(config.dataDir, "spill", entry.id),
        lingerMs: receiver.durable ? 20 : 0,
        maxBatch: receiver.maxBatch,
        maxQueue: receiver.durable ? config.queue.maxItems : config.queue.maxLiveItems,
        holdWhile: ingress,
        maxHoldMs: config.queue.maxBurstHoldMs,
        segmentSize: config.queue.segmentSize,
        spillFlushMs: config.queue.spillFlushMs,
        maxSpillBuffer: config.queue.maxSpillBuffer,
        maxSpillBytes: config.queue.maxSpillBytes,
        maxQueueBytes: config.queue.maxBytes,
        maxSpillBufferBytes: config.queue.maxSpillBufferBytes,
        // In cluster mode JetStream holds what is not written yet (unacked until it is).
        spillAfterFailingMs: config.cluster ? Infinity : config.queue.spillAfterFailingMs,
      }));
    }
    const orphans = [
      ...await unopenedSpills(spillRoot(config.dataDir, "spill"), entries.map((e) => spillDirName(e.id))),
      // An alerts receiver keeps its undelivered alerts apart (receivers/alerts.ts).
      ...await unopenedSpills(
        spillRoot(config.dataDir, "alerts"),
        entries.filter((e) => e.type === "alerts").map((e) => spillDirName(e.id)),
      ),
    ];
    for (const { dir, items } of orphans) {
      log(
        `warning: ${dir} holds ${items} accepted report(s) or undelivered alert(s) of a receiver that is no longer ` +
          "configured (removed or renamed): configure it again under its old id to have them sent, or remove the directory",
      );
    }
    const subscriptions = runners.map((runner, i) => ({ runner, subscribe: entries[i]!.subscribe }));
    const bus = await runtime.startBus(subscriptions);
    const activity = await runtime.createActivity({
      timeoutMs: config.inactivityTimeoutMs,
      onInactive: (agentId: string) => bus.inactive(agentId),
    });
    cleanups.push(() => activity.close());
    let drained = false;
    cleanups.push(async () => {
      // Drain after the listeners are closed (they are pushed later, so cleaned earlier).
      drained = true;
      await Promise.all(runners.map((r) => r.drain(config.shutdownTimeoutMs)));
    });
    cleanups.push(() => runtime.stopConsuming()); // before the drain above
    for (const runner of runners) await runner.start();
    // Every node reports each block: one object per block for all of them (core/shared_blocks.ts).
    const blocks = createSharedBlocks();
    const bodyBudget = createByteBudget({
      perKeyBytes: Math.max(config.bodyBytesInFlight.perUser, config.bodyLimitBytes),
      totalBytes: Math.max(config.bodyBytesInFlight.total, config.bodyLimitBytes),
    });
    const agentIds = createAgentIdLimit({ ...config.agentIds, log });
    // Kept across restarts (core/agent_ids.ts): saved each minute when they changed, and at the stop.
    const agentIdsFile = await openAgentIdsFile(agentIds, `${config.dataDir}/agent-ids.json`, log);
    // Users deleted while the service was down, or on another instance, lose their ids here.
    const sweepAgentIds = () => agentIds.sweep(Date.now(), auth.isUser);
    sweepAgentIds();
    const agentIdSweep = setInterval(() => {
      sweepAgentIds();
      void agentIdsFile.save();
    }, 60_000);
    cleanups.push(async () => {
      clearInterval(agentIdSweep);
      await agentIdsFile.save();
    });
    const ethstats = config.ethstats.enabled
      ? createEthstatsRoutes({
        auth,
        bus,
        activity,
        limiter,
        ingress,
        blocks,
        agentIds,
        options: config.ethstats,
      })
      : undefined;

    let ready = false;
    /** The listeners, kept serving through accept failures (http/listener.ts). */
    const supervised: SupervisedListener[] = [];
    const deps = {
      auth,
      limiter,
      bus,
      activity,
      metrics: config.metrics,
      bodyLimitBytes: config.bodyLimitBytes,
      bodyBudget,
      blocks,
      agentIds,
      receivers,
      runners,
      ready: () => ready && !drained,
      httpMetrics: createHttpMetrics(),
      ethstats,
      extraMetrics: () =>
        serviceFamilies({
          listenerRestarts: () => supervised.reduce((n, l) => n + l.restarts(), 0),
          strayErrors: options.strayErrors,
          bodyBudget,
          blocks,
          agentIds,
          ethstats,
        }),
    };

    let shutdownPromise: Promise<void> | undefined;
    return {
      auth,
      bus,
      activity,
      limiter,
      runners,
      receivers,
      ethstats,
      blocks,
      app: (routes = ROUTE_GROUPS) => createApp(deps, routes),
      addListener(listener) {
        supervised.push(listener);
        cleanups.push(() => listener.close());
      },
      markReady() {
        ready = true;
      },
      shutdown() {
        ready = false;
        // Nodes are handed over (ethstats sockets closed) before the listeners close and the
        // queues drain.
        return shutdownPromise ??= (async () => {
          if (config.stopDelayMs > 0) {
            log(
              `stopping: /healthz answers 503 for ${config.stopDelayMs} ms first (stopDelayMs), still serving`,
            );
            await new Promise((resolve) => setTimeout(resolve, config.stopDelayMs));
          }
          for (const receiver of receivers) receiver.stopping?.();
          ethstats?.close();
          for (const receiver of receivers) receiver.disconnect?.();
          await cleanup();
        })();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
