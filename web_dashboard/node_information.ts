/**
 * The nodes' latest information reports between the web state and storage (web_nodes): what
 * changed, to be saved; what was read back at start, for nodes that report again before they send
 * their information (POA agents send it every 60 s; its name and client would show "–" until then).
 */
import { INFORMATION_KEYS, pick, type Scalar } from "./sanitize.ts";

export type Information = Record<string, Scalar>;

export interface NodeInformation {
  /** A node's information as reported: saved at the next `take`. */
  noted(agentId: string, information: Information): void;
  /** What was noted since the last call (the latest per node). */
  take(): Array<[string, Information]>;
  /** Noted again (a save that failed), unless newer was noted since. */
  markDirty(rows: Array<[string, Information]>): void;
  /**
   * Stored rows read back: each goes to `apply`, which gives it to the node when it is known now
   * and has no information yet, and returns false when no such node is known: the row is then kept
   * for the node's first report (`recall`), at most `limit` of them.
   */
  restore(
    rows: Array<[string, unknown]>,
    apply: (agentId: string, information: Information) => boolean,
  ): void;
  /** The stored information of a node that has none yet, once (forgotten after). */
  recall(agentId: string): Information | undefined;
  /** Rows kept for nodes that have not reported since the start. */
  readonly waiting: number;
}

export function createNodeInformation(limit: number): NodeInformation {
  let dirty = new Map<string, Information>();
  const stored = new Map<string, Information>();
  return {
    noted(agentId, information) {
      dirty.set(agentId, information);
      stored.delete(agentId);
    },
    take() {
      const out = [...dirty];
      dirty = new Map();
      return out;
    },
    markDirty(rows) {
      for (const [agentId, information] of rows) {
        if (!dirty.has(agentId)) dirty.set(agentId, information);
      }
    },
    restore(rows, apply) {
      for (const [agentId, raw] of rows) {
        if (raw === null || typeof raw !== "object" || dirty.has(agentId)) continue;
        // Written by this service, but read as any report is (a row edited by hand stays harmless).
        const information = pick(raw as Record<string, unknown>, INFORMATION_KEYS);
        if (!apply(agentId, information) && stored.size < limit) stored.set(agentId, information);
      }
    },
    recall(agentId) {
      const information = stored.get(agentId);
      if (information !== undefined) stored.delete(agentId);
      return information;
    },
    get waiting() {
      return stored.size;
    },
  };
}
