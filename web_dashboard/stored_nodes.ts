/**
 * The nodes' latest information and Ethereum statistics between the web state and storage
 * (web_nodes): what changed, to be saved; what was read back at start, for nodes that report again
 * before they send them (the POA agent sends its information every 60 s and its statistics only
 * when they change: name, client, peers, gas price and uptime would show "–" until then).
 */
import {
  INFORMATION_KEYS,
  pick,
  type SanitizedStatistics,
  sanitizeStatistics,
  type Scalar,
} from "./sanitize.ts";

export type Information = Record<string, Scalar>;

/** What is kept of a node across a restart; a row may hold either or both. */
export interface StoredNode {
  information?: Information;
  statistics?: SanitizedStatistics;
}

/**
 * A node's statistics are saved at most this often (the latest of the while, at the end of it; all
 * at a graceful stop): at 10,000 go-ethereum nodes reporting every 15 s, 170 rows a second, not 670.
 */
export const STATISTICS_SAVE_EVERY_MS = 60_000;

export interface StoredNodes {
  /** A node's report as kept by the state: saved at a later `take`. */
  noted<K extends keyof StoredNode>(agentId: string, kind: K, value: StoredNode[K]): void;
  /**
   * What was noted since it was last taken (the latest per node), but a node's statistics only
   * `statisticsEveryMs` after they were last taken (they wait, the newest replacing them), unless
   * `all` (a graceful stop).
   */
  take(all?: boolean): Array<[string, StoredNode]>;
  /** Noted again (a save that failed), unless newer was noted since. */
  markDirty(rows: Array<[string, StoredNode]>): void;
  /**
   * Stored rows read back: each goes to `apply`, which gives it to the node when it is known now,
   * keeping what the node has reported since, and returns false when no such node is known: the row
   * is then kept for the node's first report (`recall`), at most `limit` of them.
   */
  restore(
    rows: Array<[string, unknown, unknown]>,
    apply: (agentId: string, stored: StoredNode) => boolean,
  ): void;
  /** The stored reports of a node that has not reported since the start, once (forgotten after). */
  recall(agentId: string): StoredNode | undefined;
  /** Rows kept for nodes that have not reported since the start. */
  readonly waiting: number;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

export function createStoredNodes(
  limit: number,
  options: { statisticsEveryMs?: number; now?: () => number } = {},
): StoredNodes {
  const every = options.statisticsEveryMs ?? STATISTICS_SAVE_EVERY_MS;
  const now = options.now ?? Date.now;
  const dirty = new Map<string, StoredNode>();
  /** When each node's statistics were last taken, while that holds the next ones back. */
  const statisticsTaken = new Map<string, number>();
  const stored = new Map<string, StoredNode>();
  /**
   * A node's first report since its last save: at most `limit` wait (the table keeps no more), the
   * oldest let go first: a Postgres outage under a stream of new agent ids held them all.
   */
  function note(agentId: string, entry: StoredNode): void {
    if (dirty.size >= limit) dirty.delete(dirty.keys().next().value!);
    dirty.set(agentId, entry);
  }
  return {
    noted(agentId, kind, value) {
      const entry = dirty.get(agentId);
      if (entry === undefined) note(agentId, { [kind]: value });
      else entry[kind] = value;
    },
    take(all = false) {
      const at = now();
      for (const [agentId, takenAt] of statisticsTaken) {
        if (takenAt <= at - every) statisticsTaken.delete(agentId);
      }
      const out: Array<[string, StoredNode]> = [];
      // In place: at 10,000 nodes most entries are statistics waiting for their minute.
      for (const [agentId, entry] of dirty) {
        if (entry.statistics !== undefined && !all && statisticsTaken.has(agentId)) {
          if (entry.information !== undefined) {
            out.push([agentId, { information: entry.information }]);
            delete entry.information;
          }
          continue;
        }
        if (entry.statistics !== undefined) {
          statisticsTaken.set(agentId, at);
          // Many more ids than nodes within a minute: the oldest lose their hold (saved sooner).
          if (statisticsTaken.size > limit) statisticsTaken.delete(statisticsTaken.keys().next().value!);
        }
        out.push([agentId, entry]);
        dirty.delete(agentId);
      }
      return out;
    },
    markDirty(rows) {
      for (const [agentId, row] of rows) {
        const entry = dirty.get(agentId);
        if (entry === undefined) note(agentId, { ...row });
        else {
          entry.information ??= row.information;
          entry.statistics ??= row.statistics;
        }
        statisticsTaken.delete(agentId); // tried again at the next save
      }
    },
    restore(rows, apply) {
      for (const [agentId, information, statistics] of rows) {
        // Written by this service, but read as any report is (a row edited by hand stays harmless).
        const row: StoredNode = {};
        const since = dirty.get(agentId);
        if (isObject(information) && since?.information === undefined) {
          row.information = pick(information, INFORMATION_KEYS);
        }
        if (isObject(statistics) && since?.statistics === undefined) {
          row.statistics = sanitizeStatistics(statistics);
        }
        if (row.information === undefined && row.statistics === undefined) continue;
        if (!apply(agentId, row) && stored.size < limit) stored.set(agentId, row);
      }
    },
    recall(agentId) {
      const row = stored.get(agentId);
      if (row !== undefined) stored.delete(agentId);
      return row;
    },
    get waiting() {
      return stored.size;
    },
  };
}
