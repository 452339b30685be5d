/**
 * The agent ids each agent user reports under, at most `maxPerUser` of them at a time (config
 * `agentIds`). Agent ids are not bound to users (as in the original: a token carries none), and
 * before this bound one user could report under any number of made-up ids: 50,000 of them pushed
 * real nodes out of every per-node table (the alerts receiver forgot a node that went down, so its
 * `back` never came; the dashboards' replay and the web state were taken over the same way). An id
 * counts for its user from its first report until `forgetAfterMs` after its last one; a new id
 * past the bound is refused (HTTP 429 `agent_id_limit`, an ethstats hello closed "try again
 * later") until the user's least recently used id is forgotten. Nodes logged in with the ethstats
 * shared secret have no user: they share one such set.
 *
 * Cost on the hot path: a report under a known id is two Map lookups; the id's place in its
 * user's order is refreshed at most every `forgetAfterMs / 16` (so an id may be forgotten up to
 * that much early, and is admitted again at once while its user has room).
 */
import { z } from "zod";
import { writeFileAtomic } from "./files.ts";
import { RecencyMap } from "./recency_map.ts";

export interface AgentIdOptions {
  /** Ids per user (and for the shared secret's nodes together); 0: no bound, nothing kept. */
  maxPerUser: number;
  /** An id not reported under for this long no longer counts. */
  forgetAfterMs: number;
  /** Told of refusals, at most once a minute per user (the operator's hint to raise the bound). */
  log?: (line: string) => void;
}

export interface AgentIdLimit {
  /**
   * Whether `user` (null: the ethstats shared secret) may report under `agentId` at `now`:
   * true for an id it holds or one it has room for (it then holds it), false past the bound.
   */
  admit(user: string | null, agentId: string, now: number): boolean;
  /** Whole seconds until `user` has room for a new id (at least 1). */
  retryAfterSeconds(user: string | null, now: number): number;
  /**
   * Forgets ids not reported under for `forgetAfterMs`, users left with none, and every id of a
   * user `isUser` says no longer exists (deleted on another instance: its admin call forgot them here).
   */
  sweep(now: number, isUser?: (user: string) => boolean): void;
  /** Forgets every id of `user` (deleted: a user re-created under its name starts with none). */
  forgetUser(user: string): void;
  /** Ids held in all, users holding some, new ids refused since the start. */
  stats(): { ids: number; users: number; refused: number };
  /** Grows whenever an id is taken, refreshed or forgotten (a save is due when it moved). */
  readonly changes: number;
  /** Every user's ids with when each last counted, oldest first ("" for the shared secret's). */
  snapshot(): AgentIdSnapshot;
  /** Takes back a snapshot (a restart): ids forgotten by `now` left out, the newest maxPerUser kept. */
  restore(saved: AgentIdSnapshot, now: number): void;
}

/** What `snapshot()` gives and `restore()` takes: per user ("" for the shared secret), its ids and times. */
export type AgentIdSnapshot = Array<[user: string, ids: Array<[agentId: string, seen: number]>]>;

/** The set of the shared secret's nodes (user names are never empty). */
const SHARED = "";
/** A user's refusals are logged at most this often. */
const LOG_EVERY_MS = 60_000;

export function createAgentIdLimit(options: AgentIdOptions): AgentIdLimit {
  const { maxPerUser, forgetAfterMs } = options;
  const refreshMs = Math.max(1, Math.floor(forgetAfterMs / 16));
  /** Per user, its ids in order of last refresh (oldest first), each with that time. */
  const users = new Map<string, RecencyMap<string, number>>();
  /** When each user's last refusal was logged, and its refusals since (users holding ids only). */
  const logged = new Map<string, { at: number; since: number }>();
  let ids = 0;
  let refused = 0;
  let changes = 0;

  /** Forgets the user's ids last refreshed at or before `now - forgetAfterMs`. */
  function expire(held: RecencyMap<string, number>, now: number): void {
    const before = now - forgetAfterMs;
    for (;;) {
      const oldest = held.oldestKey();
      if (oldest === undefined || held.get(oldest)! > before) return;
      held.delete(oldest);
      ids--;
      changes++;
    }
  }

  /** Forgets `key`'s ids and its refusal log. */
  function forget(key: string): void {
    const held = users.get(key);
    if (held === undefined) return;
    ids -= held.size;
    if (held.size > 0) changes++;
    users.delete(key);
    logged.delete(key);
  }

  /** Logs a refusal of `user`'s, at most once a minute per user, with how many came since the last line. */
  function logRefusal(key: string, user: string | null, agentId: string, now: number): void {
    if (!options.log) return;
    let last = logged.get(key);
    if (last === undefined) logged.set(key, last = { at: -Infinity, since: 0 });
    last.since++;
    if (now - last.at < LOG_EVERY_MS) return;
    const who = user === null ? "the ethstats shared secret's nodes" : `user ${user}`;
    const since = last.at === -Infinity ? "" : `, and ${last.since - 1} more since the last such line`;
    options.log(
      `${who}: ${maxPerUser} agent ids held (agentIds.maxPerUser), refused a new one, ` +
        `${JSON.stringify(agentId.slice(0, 64))}${since}; ` +
        "raise agentIds.maxPerUser, or a place frees when one of its ids has not reported for " +
        "agentIds.forgetAfterMs (logged at most once a minute per user)",
    );
    last.at = now;
    last.since = 0;
  }

  return {
    admit(user, agentId, now) {
      if (maxPerUser === 0) return true;
      const key = user ?? SHARED;
      let held = users.get(key);
      const seen = held?.get(agentId);
      if (seen !== undefined) {
        if (now - seen >= refreshMs) {
          held!.set(agentId, now);
          changes++;
        }
        return true;
      }
      if (held === undefined) users.set(key, held = new RecencyMap());
      else if (held.size >= maxPerUser) {
        expire(held, now);
        if (held.size >= maxPerUser) {
          refused++;
          logRefusal(key, user, agentId, now);
          return false;
        }
      }
      held.set(agentId, now);
      ids++;
      changes++;
      return true;
    },
    retryAfterSeconds(user, now) {
      const held = users.get(user ?? SHARED);
      const oldest = held?.oldestKey();
      if (oldest === undefined) return 1;
      return Math.max(1, Math.ceil((held!.get(oldest)! + forgetAfterMs - now) / 1000));
    },
    sweep(now, isUser) {
      for (const [key, held] of users) {
        if (key !== SHARED && isUser !== undefined && !isUser(key)) forget(key);
        else {
          expire(held, now);
          if (held.size === 0) forget(key);
        }
      }
    },
    forgetUser: forget,
    stats: () => ({ ids, users: users.size, refused }),
    get changes() {
      return changes;
    },
    snapshot: () => [...users].map(([user, held]) => [user, [...held.entries()]]),
    restore(saved, now) {
      if (maxPerUser === 0) return;
      const before = now - forgetAfterMs;
      for (const [user, list] of saved) {
        let held = users.get(user);
        if (held === undefined) users.set(user, held = new RecencyMap());
        // Oldest first, as saved: the newest maxPerUser are the last ones set.
        for (const [agentId, seen] of list.filter(([, seen]) => seen > before).slice(-maxPerUser)) {
          if (!held.has(agentId)) ids++;
          held.set(agentId, Math.min(seen, now));
        }
        while (held.size > maxPerUser) {
          held.delete(held.oldestKey()!);
          ids--;
        }
        if (held.size === 0) users.delete(user);
      }
      changes++;
    },
  };
}

/** A saved file, as `saveAgentIds` wrote it (an edited or torn one is left out whole). */
const savedSchema = z.array(
  z.tuple([
    z.string().max(256),
    z.array(z.tuple([z.string().min(1).max(256), z.number().int().min(0).max(8.64e15)])),
  ]),
);

/**
 * The ids' file (`<dataDir>/agent-ids.json`): read back into `limit` now, written whole by `save()`
 * when they changed since (one write at a time; a failure logged and tried at the next save).
 * Without it a restart freed every place, and whoever reported first took them (the operator
 * trial: a node that had reported for days was refused after a restart, two others back first).
 */
export async function openAgentIdsFile(
  limit: AgentIdLimit,
  path: string,
  log: (line: string) => void,
): Promise<{ save(): Promise<void> }> {
  limit.restore(await loadAgentIds(path, log), Date.now());
  let saved = limit.changes;
  let saving = Promise.resolve();
  return {
    save: () =>
      saving = saving.then(async () => {
        if (limit.changes === saved) return;
        const changes = limit.changes;
        try {
          await writeFileAtomic(path, JSON.stringify(limit.snapshot()));
          saved = changes;
        } catch (err) {
          log(`agent ids not saved to ${path} (tried again at the next save): ${(err as Error).message}`);
        }
      }),
  };
}

/** Reads a saved file; none, or one this service did not write (logged), gives no ids. */
async function loadAgentIds(path: string, log: (line: string) => void): Promise<AgentIdSnapshot> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      log(`agent ids not read from ${path}: ${(err as Error).message}`);
    }
    return [];
  }
  try {
    return savedSchema.parse(JSON.parse(text));
  } catch {
    log(`warning: ${path} is not a file of agent ids this service wrote; left out (every place is free)`);
    return [];
  }
}
