/** The alerts receiver's types: the webhook body and a saved episode (receivers/alert_detector.ts makes both). */

export type AlertEvent = "inactive" | "behind" | "fork" | "back";
/** What an episode may consist of. */
export type Condition = Exclude<AlertEvent, "back">;

/** The webhook body (documented in README, "Alerts (webhooks)"). */
export interface Alert {
  /** Unique per alert, the same on every resend: the endpoint's de-duplication key. */
  id: string;
  event: AlertEvent;
  /** The agent id. */
  node: string;
  /** The node's name from its last `information` report, else null. */
  name: string | null;
  /** When the alert was raised (ISO 8601). */
  at: string;
  /** When the condition began (for `back`: the earliest of the conditions it closes). */
  since: string;
  /** The node's head block number, null before any. */
  block: number | null;
  /** The best block among active nodes, null before any. */
  best: number | null;
  /** `fork` only: the fork's height, the node's hash and the hash with the most nodes. */
  fork?: { number: number; hash: string; nodes: number; mainHash: string; mainNodes: number };
  /** `back` only: the alerts of the episode it closes. */
  resolved?: Condition[];
}

/**
 * A node's open episode as saved across a restart (`episodes()` / `restore()`): without it a node
 * that was down when the service stopped got no `back` when it came back after the start, and an
 * endpoint's incident stayed open for good.
 */
export interface SavedEpisode {
  node: string;
  /** The node's name when it was saved (a `back` before its next `information` report uses it). */
  name: string | null;
  /** Conditions alerted and not over, with when each began (epoch ms). */
  open: Array<[Condition, number]>;
  /** Conditions alerted in the episode. */
  alerted: Condition[];
  episodeSince: number;
  /** Restored by an earlier start and not heard from since: forgotten at this time (epoch ms). */
  keepUntil?: number;
  /**
   * A node down whose episode its user's budget held back (`alerted` empty, `episodeSince` when it
   * went down): alerted after `until` if it has not come back, as if the service had run on.
   */
  quiet?: { until: number; user: string | null; block: number | null };
}
