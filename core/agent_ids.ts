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
  /** Forgets ids not reported under for `forgetAfterMs`, and users left with none. */
  sweep(now: number): void;
  /** Ids held in all, users holding some, new ids refused since the start. */
  stats(): { ids: number; users: number; refused: number };
}

/** The set of the shared secret's nodes (user names are never empty). */
const SHARED = "";
/** A user's refusals are logged at most this often. */
const LOG_EVERY_MS = 60_000;

export function createAgentIdLimit(options: AgentIdOptions): AgentIdLimit {
  const { maxPerUser, forgetAfterMs } = options;
  const refreshMs = Math.max(1, Math.floor(forgetAfterMs / 16));
  /** Per user, its ids in order of last refresh (oldest first), each with that time. */
  const users = new Map<string, RecencyMap<string, number>>();
  /** When each user's last refusal was logged (users holding ids only). */
  const loggedAt = new Map<string, number>();
  let ids = 0;
  let refused = 0;

  /** Forgets the user's ids last refreshed at or before `now - forgetAfterMs`. */
  function expire(held: RecencyMap<string, number>, now: number): void {
    const before = now - forgetAfterMs;
    for (;;) {
      const oldest = held.oldestKey();
      if (oldest === undefined || held.get(oldest)! > before) return;
      held.delete(oldest);
      ids--;
    }
  }

  return {
    admit(user, agentId, now) {
      if (maxPerUser === 0) return true;
      const key = user ?? SHARED;
      let held = users.get(key);
      const seen = held?.get(agentId);
      if (seen !== undefined) {
        if (now - seen >= refreshMs) held!.set(agentId, now);
        return true;
      }
      if (held === undefined) users.set(key, held = new RecencyMap());
      else if (held.size >= maxPerUser) {
        expire(held, now);
        if (held.size >= maxPerUser) {
          refused++;
          if (options.log && !(now - (loggedAt.get(key) ?? -Infinity) < LOG_EVERY_MS)) {
            loggedAt.set(key, now);
            const who = user === null ? "the ethstats shared secret's nodes" : `user ${user}`;
            options.log(
              `${who}: ${maxPerUser} agent ids held (agentIds.maxPerUser), refused a new one, ` +
                `${JSON.stringify(agentId.slice(0, 64))} (logged at most once a minute per user)`,
            );
          }
          return false;
        }
      }
      held.set(agentId, now);
      ids++;
      return true;
    },
    retryAfterSeconds(user, now) {
      const held = users.get(user ?? SHARED);
      const oldest = held?.oldestKey();
      if (oldest === undefined) return 1;
      return Math.max(1, Math.ceil((held!.get(oldest)! + forgetAfterMs - now) / 1000));
    },
    sweep(now) {
      for (const [key, held] of users) {
        expire(held, now);
        if (held.size === 0) {
          users.delete(key);
          loggedAt.delete(key);
        }
      }
    },
    stats: () => ({ ids, users: users.size, refused }),
  };
}
