/**
 * What the `alerts` receiver (receivers/alerts.ts) alerts on: its own copy of the web dashboard's
 * node state (web_dashboard/state.ts: latest reports, active/inactive, `checkChain()` for the best
 * block, forks and `behindSince`), turned into `inactive`, `behind`, `fork` and `back` alerts, each
 * once per episode.
 */
import type { Message } from "../core/message.ts";
import type { NodeState } from "../web_dashboard/nodes.ts";
import { createWebState, type WebState } from "../web_dashboard/state.ts";
import type { ChainHealth } from "../web_dashboard/chain.ts";
import { createEpisodeBudget } from "./alert_budget.ts";
import type { Alert, AlertEvent, Condition, SavedEpisode } from "./alert_types.ts";

/** The thresholds (the `alerts` receiver's options of the same names). */
export interface DetectorOptions {
  behindBlocks: number;
  behindForMs: number;
  forkForMs: number;
  maxNodes: number;
  forgetInactiveAfterMs: number;
  /**
   * Episodes (an `inactive`, `behind` or `fork` alert opening one; its `back` closes it) the nodes
   * of one agent user may open in an hour; past it their new episodes are not alerted until the
   * hour is over. Not the ethstats shared secret's nodes (no user: when their network goes down,
   * every one of them alerts). 0: no bound.
   */
  maxEpisodesPerUserPerHour: number;
  /** Told once, when a node is first forgotten to make room (default console.warn). */
  warn?: (line: string) => void;
}

const CONDITIONS: readonly Condition[] = ["inactive", "behind", "fork"];

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
  /** Restored from a save: the node's name then (for its `back` before a new `information`). */
  savedName?: string | null;
  /** Restored and not heard from since: kept until then. */
  keepUntil?: number;
  /** Its user had spent its episodes when this one would have opened: not alerted before then. */
  quietUntil?: number;
  /** Restored held back and not heard from since: its user and last block (for its alert). */
  savedQuiet?: { user: string | null; block: number | null };
}

/** Turns the node state into alerts: once per condition and episode, `back` when all is well. */
export interface AlertDetector {
  readonly state: WebState;
  /** A node's report: into the state, and who reported it (the episodes' budget is per user). */
  apply(message: Message): void;
  /** The node was reported inactive: `inactive` alert when it was active. */
  inactive(agentId: string): Alert[];
  /** Looks at every node: `behind`, `fork` and `back` alerts. */
  check(): Alert[];
  /** The episodes with an alert sent and no `back` yet, to save. */
  episodes(): SavedEpisode[];
  /** Grows whenever an episode opens, changes or ends (what `episodes()` gives may differ then). */
  readonly changes: number;
  /** Episodes not alerted because their user had spent `maxEpisodesPerUserPerHour`. */
  readonly suppressed: number;
  /**
   * Takes back episodes saved by an earlier run, the newest `maxNodes` of them (the last saved): a
   * node among them is kept (not heard from since) until `forgetInactiveAfterMs` after it went
   * inactive, or after the first start that restored it when it was not inactive.
   */
  restore(saved: readonly SavedEpisode[]): void;
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
  let changes = 0;
  /** The user each node last reported as (absent: the shared secret, or not heard from since a start). */
  const userOf = new Map<string, string>();
  const budget = createEpisodeBudget(options.maxEpisodesPerUserPerHour, options.warn ?? console.warn);

  /**
   * Whether `track` may open an episode of node `id` at `at`: always when one is open (its further
   * conditions belong to it), else while the node's user has episodes left this hour.
   */
  function mayOpen(id: string, track: Track, at: number): boolean {
    if (track.alerted.size > 0 || options.maxEpisodesPerUserPerHour === 0) return true;
    if (track.quietUntil !== undefined && at < track.quietUntil) return false;
    const user = userOf.get(id);
    if (user === undefined) return true; // the shared secret's nodes: one network's outage alerts them all
    const until = budget.take(user, id, at);
    if (until === true) {
      track.quietUntil = undefined;
      return true;
    }
    if (track.quietUntil !== until) changes++; // a down node held back is saved
    track.quietUntil = until;
    return false;
  }
  /** Ends a condition; counted as a change when it was open. */
  const close = (track: Track, condition: Condition) => {
    if (track.open.delete(condition)) changes++;
  };
  /** Forgets a node's track; counted as a change when it had an episode (or one held back). */
  const untrack = (id: string, track: Track) => {
    tracks.delete(id);
    if (track.alerted.size > 0 || track.quietUntil !== undefined) changes++;
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  /** The node's name from its last `information` report, else null. */
  const nameOf = (node: NodeState | undefined) => {
    const name = node?.last.information?.["name"];
    return typeof name === "string" ? name : null;
  };

  /** A held-back episode of a node still down, as saved; undefined for any other unalerted track. */
  function quietEpisode(id: string, track: Track): SavedEpisode | undefined {
    if (track.quietUntil === undefined) return undefined;
    const node = state.node(id);
    let quiet: SavedEpisode["quiet"];
    let since: number;
    if (track.savedQuiet !== undefined) { // restored, not heard from since
      quiet = { until: track.quietUntil, ...track.savedQuiet };
      since = track.episodeSince;
    } else if (node !== undefined && !node.active) {
      quiet = { until: track.quietUntil, user: userOf.get(id) ?? null, block: blockOf(node) };
      since = node.inactiveSince ?? now();
    } else return undefined;
    return {
      node: id,
      name: nameOf(node) ?? track.savedName ?? null,
      open: [],
      alerted: [],
      episodeSince: since,
      ...(track.keepUntil === undefined ? {} : { keepUntil: track.keepUntil }),
      quiet,
    };
  }

  function trackOf(id: string): Track {
    let t = tracks.get(id);
    if (!t) {
      tracks.set(id, t = { open: new Map(), alerted: new Set(), forkSince: null, episodeSince: Infinity });
    }
    return t;
  }

  /** The node's last block number, else null. */
  const blockOf = (node: NodeState | undefined) => {
    const block = node?.last.block?.["number"];
    return typeof block === "number" ? block : null;
  };

  function alert(
    event: AlertEvent,
    node: NodeState,
    since: number,
    best: number | null,
    extra: Partial<Alert> = {},
  ): Alert {
    return alertOf(event, { node: node.id, name: nameOf(node), block: blockOf(node), since, best }, extra);
  }

  /** An alert of `event` about a node as given (one restored and not heard from has no state). */
  function alertOf(
    event: AlertEvent,
    about: { node: string; name: string | null; block: number | null; since: number; best: number | null },
    extra: Partial<Alert> = {},
  ): Alert {
    const { node, name, block, since, best } = about;
    return {
      id: crypto.randomUUID(),
      event,
      node,
      name,
      at: iso(now()),
      since: iso(since),
      block,
      best,
      ...extra,
    };
  }

  function open(track: Track, condition: Condition, since: number): void {
    track.open.set(condition, since);
    changes++;
    track.alerted.add(condition);
    track.episodeSince = Math.min(track.episodeSince, since);
  }

  return {
    state,
    apply(message) {
      state.apply(message);
      const user = message.user;
      if (typeof user === "string" && userOf.get(message.agentId) !== user) userOf.set(message.agentId, user);
      else if (typeof user !== "string" && userOf.has(message.agentId)) userOf.delete(message.agentId);
    },
    get suppressed() {
      return budget.suppressed;
    },
    inactive(agentId) {
      const node = state.node(agentId);
      const wasActive = node?.active === true;
      state.inactive(agentId);
      if (!node || !wasActive) return [];
      const track = trackOf(agentId);
      if (track.open.has("inactive")) return [];
      // Not alerted now: the track keeps when it may be; still down then, the check alerts it.
      if (!mayOpen(agentId, track, now())) return [];
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
      for (const [id, track] of tracks) {
        if (state.node(id)) continue;
        if (track.keepUntil !== undefined && at < track.keepUntil) { // not heard from since the start
          if (
            track.savedQuiet !== undefined && at >= track.quietUntil! && mayOpen(id, track, at)
          ) {
            // Held back by its user's budget before the restart, and still not back.
            open(track, "inactive", track.episodeSince);
            const { block } = track.savedQuiet;
            track.savedQuiet = undefined;
            const name = track.savedName ?? null;
            out.push(
              alertOf("inactive", { node: id, name, block, since: track.episodeSince, best: health.best }),
            );
          }
          continue;
        }
        untrack(id, track); // forgotten (inactive too long, or evicted)
      }
      for (const id of userOf.keys()) if (!state.node(id)) userOf.delete(id);
      for (const node of state.nodes()) {
        const minority = node.active ? onMinority.get(node.id) : undefined;
        let track = tracks.get(node.id);
        if (!track && node.behindSince === null && !minority) continue; // nothing to watch
        track ??= trackOf(node.id);
        if (track.keepUntil !== undefined) {
          track.keepUntil = undefined; // heard from: forgotten as any other from here
          track.savedQuiet = undefined;
          changes++;
        }
        if (node.active) close(track, "inactive");
        else if (
          track.quietUntil !== undefined && !track.open.has("inactive") && mayOpen(node.id, track, at)
        ) {
          // Its user's episodes were spent when it went down; down still, it is alerted now (its since then).
          const since = node.inactiveSince ?? at;
          open(track, "inactive", since);
          out.push(alert("inactive", node, since, health.best));
        }
        // An inactive node is neither behind nor on a branch as far as the state says: its open
        // conditions stay open until it is back (it returned still behind: a second alert before).
        if (node.behindSince === null) {
          if (node.active) close(track, "behind");
        } else if (
          !track.open.has("behind") && at - node.behindSince >= options.behindForMs &&
          mayOpen(node.id, track, at)
        ) {
          open(track, "behind", node.behindSince);
          out.push(alert("behind", node, node.behindSince, health.best));
        }
        if (!minority) {
          if (node.active) {
            track.forkSince = null;
            close(track, "fork");
          }
        } else {
          track.forkSince ??= at;
          if (
            !track.open.has("fork") && at - track.forkSince >= options.forkForMs &&
            mayOpen(node.id, track, at)
          ) {
            open(track, "fork", track.forkSince);
            out.push(alert("fork", node, track.forkSince, health.best, { fork: minority }));
          }
        }
        const healthy = node.active && node.behindSince === null && !minority;
        if (healthy && track.alerted.size > 0) {
          const resolved = CONDITIONS.filter((c) => track!.alerted.has(c));
          const back = alert("back", node, track.episodeSince, health.best, { resolved });
          back.name ??= track.savedName ?? null;
          out.push(back);
        }
        if (healthy) untrack(node.id, track);
      }
      return out;
    },
    episodes() {
      const out: SavedEpisode[] = [];
      for (const [id, track] of tracks) {
        if (track.alerted.size === 0) {
          // A fork not alerted yet: nothing sent to close. A down node held back: alerted later.
          const quiet = quietEpisode(id, track);
          if (quiet !== undefined) out.push(quiet);
          continue;
        }
        out.push({
          node: id,
          name: nameOf(state.node(id)) ?? track.savedName ?? null,
          open: [...track.open],
          alerted: [...track.alerted],
          episodeSince: track.episodeSince,
          ...(track.keepUntil === undefined ? {} : { keepUntil: track.keepUntil }),
        });
      }
      return out;
    },
    get changes() {
      return changes;
    },
    restore(saved) {
      const at = now();
      // The file lists the oldest first (as tracked): beyond maxNodes the oldest are left out.
      for (const episode of saved.slice(-options.maxNodes)) {
        const inactiveSince = episode.quiet === undefined
          ? episode.open.find(([c]) => c === "inactive")?.[1]
          : episode.episodeSince;
        // Kept from the start that first restored it, not from each start again.
        const keepUntil = episode.keepUntil ?? (inactiveSince ?? at) + options.forgetInactiveAfterMs;
        if (keepUntil <= at) continue; // it would have been forgotten by now
        tracks.set(episode.node, {
          open: new Map(episode.open),
          alerted: new Set(episode.alerted),
          forkSince: null,
          episodeSince: episode.episodeSince,
          savedName: episode.name,
          keepUntil,
          ...(episode.quiet === undefined ? {} : {
            quietUntil: episode.quiet.until,
            savedQuiet: { user: episode.quiet.user, block: episode.quiet.block },
          }),
        });
        if (episode.quiet?.user != null) userOf.set(episode.node, episode.quiet.user);
      }
      if (saved.length > 0) changes++; // saved again: the forget times set here, the ones left out gone
    },
  };
}
