/**
 * What the `alerts` receiver (receivers/alerts.ts) alerts on: its own copy of the web dashboard's
 * node state (web_dashboard/state.ts: latest reports, active/inactive, `checkChain()` for the best
 * block, forks and `behindSince`), turned into `inactive`, `behind`, `fork` and `back` alerts, each
 * once per episode.
 */
import { createWebState, type NodeState, type WebState } from "../web_dashboard/state.ts";
import type { ChainHealth } from "../web_dashboard/chain.ts";

/** The thresholds (the `alerts` receiver's options of the same names). */
export interface DetectorOptions {
  behindBlocks: number;
  behindForMs: number;
  forkForMs: number;
  maxNodes: number;
  forgetInactiveAfterMs: number;
  /** Told once, when a node is first forgotten to make room (default console.warn). */
  warn?: (line: string) => void;
}

export type AlertEvent = "inactive" | "behind" | "fork" | "back";
type Condition = Exclude<AlertEvent, "back">;
const CONDITIONS: readonly Condition[] = ["inactive", "behind", "fork"];

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

/** A node on a branch of a fork that has fewer nodes than the fork's largest branch. */
type Minority = NonNullable<Alert["fork"]>;

function minorities(health: ChainHealth): Map<string, Minority> {
  const out = new Map<string, Minority>();
  for (const fork of health.forks) {
    const main = fork.branches[0]!;
    for (const branch of fork.branches.slice(1)) {
      if (branch.count >= main.count) continue; // a tie has no majority
      for (const node of branch.nodes) {
        if (!out.has(node)) {
          out.set(node, {
            number: fork.number,
            hash: branch.hash,
            nodes: branch.count,
            mainHash: main.hash,
            mainNodes: main.count,
          });
        }
      }
    }
  }
  return out;
}

/** What the detector remembers of a node with something open. */
interface Track {
  /** Conditions alerted and not yet over, with when each began. */
  open: Map<Condition, number>;
  /** Conditions alerted in this episode (for `back`). */
  alerted: Set<Condition>;
  /** Since when the node has been on a minority branch (before its `fork` alert). */
  forkSince: number | null;
  /** When the earliest condition alerted in this episode began. */
  episodeSince: number;
}

/** Turns the node state into alerts: once per condition and episode, `back` when all is well. */
export interface AlertDetector {
  readonly state: WebState;
  /** The node was reported inactive: `inactive` alert when it was active. */
  inactive(agentId: string): Alert[];
  /** Looks at every node: `behind`, `fork` and `back` alerts. */
  check(): Alert[];
}

/** Creates a detector over its own node state. */
export function createAlertDetector(
  options: DetectorOptions,
  now: () => number = Date.now,
): AlertDetector {
  const state = createWebState({
    maxNodes: options.maxNodes,
    warn: options.warn,
    maxBlocks: 16,
    removeInactiveAfterMs: options.forgetInactiveAfterMs,
    behindBlocks: options.behindBlocks,
    now,
  });
  const tracks = new Map<string, Track>();
  const iso = (ms: number) => new Date(ms).toISOString();

  function trackOf(id: string): Track {
    let t = tracks.get(id);
    if (!t) {
      tracks.set(id, t = { open: new Map(), alerted: new Set(), forkSince: null, episodeSince: Infinity });
    }
    return t;
  }

  function alert(
    event: AlertEvent,
    node: NodeState,
    since: number,
    best: number | null,
    extra: Partial<Alert> = {},
  ): Alert {
    const name = node.last.information?.["name"];
    const block = node.last.block?.["number"];
    return {
      id: crypto.randomUUID(),
      event,
      node: node.id,
      name: typeof name === "string" ? name : null,
      at: iso(now()),
      since: iso(since),
      block: typeof block === "number" ? block : null,
      best,
      ...extra,
    };
  }

  function open(track: Track, condition: Condition, since: number): void {
    track.open.set(condition, since);
    track.alerted.add(condition);
    track.episodeSince = Math.min(track.episodeSince, since);
  }

  return {
    state,
    inactive(agentId) {
      const node = state.node(agentId);
      const wasActive = node?.active === true;
      state.inactive(agentId);
      if (!node || !wasActive) return [];
      const track = trackOf(agentId);
      if (track.open.has("inactive")) return [];
      const since = node.inactiveSince ?? now();
      open(track, "inactive", since);
      return [alert("inactive", node, since, state.chain().best)];
    },
    check() {
      const at = now();
      state.sweep();
      const health = state.checkChain();
      const onMinority = minorities(health);
      const out: Alert[] = [];
      for (const id of tracks.keys()) {
        if (!state.node(id)) tracks.delete(id); // forgotten (inactive too long, or evicted)
      }
      for (const node of state.nodes()) {
        const minority = node.active ? onMinority.get(node.id) : undefined;
        let track = tracks.get(node.id);
        if (!track && node.behindSince === null && !minority) continue; // nothing to watch
        track ??= trackOf(node.id);
        if (node.active) track.open.delete("inactive");
        // An inactive node is neither behind nor on a branch as far as the state says: its open
        // conditions stay open until it is back (it returned still behind: a second alert before).
        if (node.behindSince === null) {
          if (node.active) track.open.delete("behind");
        } else if (!track.open.has("behind") && at - node.behindSince >= options.behindForMs) {
          open(track, "behind", node.behindSince);
          out.push(alert("behind", node, node.behindSince, health.best));
        }
        if (!minority) {
          if (node.active) {
            track.forkSince = null;
            track.open.delete("fork");
          }
        } else {
          track.forkSince ??= at;
          if (!track.open.has("fork") && at - track.forkSince >= options.forkForMs) {
            open(track, "fork", track.forkSince);
            out.push(alert("fork", node, track.forkSince, health.best, { fork: minority }));
          }
        }
        const healthy = node.active && node.behindSince === null && !minority;
        if (healthy && track.alerted.size > 0) {
          const resolved = CONDITIONS.filter((c) => track!.alerted.has(c));
          out.push(alert("back", node, track.episodeSince, health.best, { resolved }));
        }
        if (healthy) tracks.delete(node.id);
      }
      return out;
    },
  };
}
