/**
 * The cluster activity monitor, on a JetStream KV bucket (`<root>_activity`), one key per agent:
 * `active` after a ping, `inactive` once reported.
 *
 * - A ping, whichever instance hears it, puts `active` (at most once per `writeEveryMs` per
 *   agent across the cluster). Every instance watches the bucket, so all of them know every
 *   agent's last ping: pings alternating between instances never look like silence.
 * - Past `timeoutMs + writeEveryMs` without a put, every instance tries to turn the key to
 *   `inactive` with a compare-and-set on the revision it last saw. One wins and reports the
 *   agent inactive, once; the others' CAS fails (or a newer ping came in: nothing to report).
 *   `bye` does the same at once. A key that is already `inactive` is not reported again.
 * - `handOver` (an instance stopping, its ethstats sockets closed) puts `active+<grace ms>`: every
 *   instance then settles the agent only once no ping came for that grace, enough for a node to
 *   connect again elsewhere (go-ethereum notices the closed socket only at its next report).
 * - The bucket's TTL forgets agents silent for a long time.
 * - Each instance also puts a liveness key of its own every `writeEveryMs`, so its watch hears from
 *   the bucket at least that often. While it hears nothing (NATS away: pings cannot be recorded, and
 *   every agent looks silent), and for `timeoutMs + writeEveryMs` after it hears again (the time the
 *   agents still alive need to be recorded again), it settles nothing: a NATS pause had every live
 *   agent reported inactive on every dashboard when it ended.
 * The few ms between the CAS and the report are the one window in which a crash loses a report.
 */
import { type KV, type KvEntry, Kvm, type KvWatchEntry } from "@nats-io/kv";
import type { QueuedIterator } from "@nats-io/transport-node";
import type { ActivityMonitor } from "../core/activity.ts";
import { RecencyMap } from "../core/recency_map.ts";
import type { NatsRuntime } from "./nats.ts";

export interface ClusterActivityOptions {
  timeoutMs: number;
  onInactive: (agentId: string) => void;
  /** How often the sweep runs (default timeoutMs/10, between 50 ms and 1 s). */
  sweepIntervalMs?: number;
  /**
   * Agents counted as known (`knownAgents`) at most (default 100,000); each is forgotten here
   * once the bucket's TTL has forgotten it too.
   */
  maxRemembered?: number;
  /**
   * Replicas of the bucket (as the stream's: 3 on a 3-node NATS cluster; default 1). A bucket
   * made with fewer is scaled up: on one node, that node down stopped every instance's start.
   */
  replicas?: number;
  now?: () => number;
}

const ACTIVE = "active";
const INACTIVE = "inactive";
/** `active+<ms>`: handed over, settled after that grace instead of the timeout. */
const HANDED_OVER = "active+";
const encoder = new TextEncoder();

/** KV key of an agent id (any string): base64url, which only uses key-safe characters. */
export function agentKey(agentId: string): string {
  const bytes = encoder.encode(agentId);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return "a" + btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** The agent id of a key made by {@link agentKey}. */
export function agentIdOf(key: string): string {
  const b64 = key.slice(1).replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - b64.length % 4) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

/** Liveness keys (instances, not agents): agent keys start with "a". */
const LIVE_PREFIX = "live.";

function isCasFailure(err: unknown): boolean {
  return /wrong last sequence|key exists/i.test((err as Error)?.message ?? "");
}

/** Opens (creating) the bucket, starts watching it and returns the monitor. */
export async function createClusterActivityMonitor(
  nats: NatsRuntime,
  options: ClusterActivityOptions,
): Promise<ActivityMonitor> {
  const now = options.now ?? Date.now;
  const writeEveryMs = Math.min(1000, Math.floor(options.timeoutMs / 10));
  const interval = options.sweepIntervalMs ??
    Math.max(50, Math.min(1000, Math.floor(options.timeoutMs / 10)));
  const ttlMs = Math.max(3_600_000, options.timeoutMs * 10);
  const maxRemembered = options.maxRemembered ?? 100_000;
  const replicas = options.replicas ?? 1;
  const kv: KV = await new Kvm(nats.nc).create(nats.subjects.activityBucket, {
    history: 1,
    ttl: ttlMs,
    replicas,
  });
  const { streamInfo } = await kv.status();
  if (streamInfo.config.num_replicas !== replicas) {
    await nats.jsm.streams.update(streamInfo.config.name, { ...streamInfo.config, num_replicas: replicas });
  }

  /** Active agents by last put seen, oldest first (delete + set keeps the order). */
  const active = new Map<string, { revision: number; seenAt: number }>();
  /**
   * Handed-over agents by when they are due, in the order their puts were seen (their own map: due
   * later than the pings seen after them, they would hold the `active` sweep back). Each `seenAt` is
   * set so that the timeout's deadline passes when the grace ends.
   */
  const handedOver = new Map<string, { revision: number; seenAt: number }>();
  /**
   * Agents heard of (a ping here, or their key in the bucket), by when, oldest first: agent ids
   * are whatever agents send, so the set is bounded as the local monitor's is.
   */
  const known = new RecencyMap<string, number>();
  function remember(agentId: string): void {
    known.set(agentId, now());
    if (known.size > maxRemembered) known.delete(known.oldestKey()!);
  }
  /** Agents whose put is on its way, so a burst of pings writes once. */
  const writing = new Set<string>();
  let closed = false;
  /** While NATS is unreachable every ping and sweep fails: log the first error and a count every 10 s. */
  let failures = 0;
  let lastLog = 0;
  function logFailure(what: string, err: unknown): void {
    failures++;
    if (Date.now() - lastLog < 10_000) return;
    lastLog = Date.now();
    console.error(
      `activity: ${what} failed (${failures} failure(s) in the last 10 s or so):`,
      (err as Error)?.message ?? err,
    );
    failures = 0;
  }

  function report(agentId: string): void {
    try {
      options.onInactive(agentId);
    } catch (err) {
      console.error(`activity: reporting ${agentId} inactive failed:`, err);
    }
  }

  /** When the watch last delivered anything, and when it did again after a silence. */
  let heardAt = now();
  let resumedAt = -Infinity;
  /** The watch silent this long (liveness puts every writeEveryMs): the bucket is out of reach. */
  const silentMs = 3 * writeEveryMs + interval;
  const liveKey = `${LIVE_PREFIX}${crypto.randomUUID()}`;

  function apply(entry: KvEntry | KvWatchEntry): void {
    const at = now();
    if (at - heardAt > silentMs) resumedAt = at;
    heardAt = at;
    if (entry.key.startsWith(LIVE_PREFIX)) return;
    let agentId: string;
    try {
      agentId = agentIdOf(entry.key);
    } catch {
      return;
    }
    remember(agentId);
    active.delete(agentId);
    handedOver.delete(agentId);
    if (entry.operation !== "PUT") return;
    const value = entry.string();
    if (value === ACTIVE) active.set(agentId, { revision: entry.revision, seenAt: now() });
    else if (value.startsWith(HANDED_OVER)) {
      const graceMs = Math.min(Number(value.slice(HANDED_OVER.length)) || 0, ttlMs);
      const seenAt = now() + Math.max(0, graceMs - options.timeoutMs - writeEveryMs);
      handedOver.set(agentId, { revision: entry.revision, seenAt });
    }
  }

  const watch: QueuedIterator<KvWatchEntry> = await kv.watch();
  const watching = (async () => {
    for await (const entry of watch) apply(entry);
  })().catch((err) => {
    if (!closed) console.error("activity: watching the bucket stopped:", err);
  });

  /** Turns the key inactive if it still is what we saw; the winner reports. */
  async function settle(agentId: string, expected: { revision: number; seenAt: number } | undefined) {
    const key = agentKey(agentId);
    let revision = expected?.revision;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        if (revision === undefined) {
          await kv.create(key, INACTIVE);
        } else {
          await kv.update(key, INACTIVE, revision);
        }
        report(agentId);
        return;
      } catch (err) {
        if (!isCasFailure(err)) {
          // NATS unreachable: try again at the next sweep.
          if (expected && !active.has(agentId)) active.set(agentId, expected);
          logFailure(`settling ${agentId}`, err);
          return;
        }
      }
      // Someone changed the key: look at what it is now.
      const current = await kv.get(key).catch(() => null);
      if (!current || current.operation !== "PUT") {
        revision = undefined; // expired or deleted: create it
      } else if (current.string() === INACTIVE) {
        return; // already reported
      } else if (expected) {
        return; // a newer ping: the watch brings it
      } else {
        revision = current.revision; // bye: the agent is active now, take it down
      }
    }
  }

  function sweep(): number {
    const forgotten = now() - ttlMs;
    for (
      let id = known.oldestKey();
      id !== undefined && known.get(id)! <= forgotten;
      id = known.oldestKey()
    ) {
      known.delete(id);
    }
    // Pings could not be recorded while the bucket was out of reach: settle nothing then, nor until
    // the agents still alive have had a whole timeout to be recorded again.
    const at = now();
    if (at - heardAt > silentMs || at - resumedAt < options.timeoutMs + writeEveryMs) return 0;
    const deadline = at - options.timeoutMs - writeEveryMs;
    let count = 0;
    for (const agents of [active, handedOver]) {
      for (const [agentId, seen] of agents) {
        if (seen.seenAt > deadline) break;
        agents.delete(agentId);
        settle(agentId, seen).catch((err) => logFailure(`settling ${agentId}`, err));
        count++;
      }
    }
    return count;
  }

  const timer = setInterval(sweep, interval);
  const liveness = setInterval(() => {
    kv.put(liveKey, String(now())).catch((err) => logFailure("the liveness put", err));
  }, writeEveryMs);

  return {
    sweep,
    ping(agentId) {
      remember(agentId);
      const seen = active.get(agentId);
      if (seen && now() - seen.seenAt < writeEveryMs) return;
      if (writing.has(agentId)) return;
      writing.add(agentId);
      kv.put(agentKey(agentId), ACTIVE)
        .catch((err) => logFailure(`recording a ping of ${agentId}`, err))
        .finally(() => writing.delete(agentId));
    },
    handOver(agentId, graceMs) {
      kv.put(agentKey(agentId), `${HANDED_OVER}${Math.round(graceMs)}`)
        .catch((err) => logFailure(`handing ${agentId} over`, err));
    },
    bye(agentId) {
      remember(agentId);
      active.delete(agentId);
      handedOver.delete(agentId);
      (async () => {
        const current = await kv.get(agentKey(agentId));
        if (current?.operation === "PUT" && current.string() === INACTIVE) return;
        const revision = current?.operation === "PUT" ? current.revision : undefined;
        if (revision === undefined) await settle(agentId, undefined);
        else {
          // Like a timeout whose CAS must match the current revision.
          try {
            await kv.update(agentKey(agentId), INACTIVE, revision);
            report(agentId);
          } catch (err) {
            if (!isCasFailure(err)) throw err;
            await settle(agentId, undefined);
          }
        }
      })().catch((err) => logFailure(`bye of ${agentId}`, err));
    },
    get knownAgents() {
      return known.size;
    },
    get activeAgents() {
      return active.size + handedOver.size;
    },
    close() {
      closed = true;
      clearInterval(timer);
      clearInterval(liveness);
      void kv.delete(liveKey).catch(() => {});
      watch.stop();
      void watching;
    },
  };
}
