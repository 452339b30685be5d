/** The activity monitor seam: agents that stop pinging are reported inactive once. */

/** Tracks pings; reports an agent inactive once when its pings stop or it says bye. */
export interface ActivityMonitor {
  ping(agentId: string): void;
  /** The agent leaves: reported inactive at once (if it was active). */
  bye(agentId: string): void;
  /**
   * This process stops and closes the agent's connection, which it will open again elsewhere (another
   * instance of a cluster): not reported inactive unless no ping comes within `graceMs`. Without it
   * (one process: it stops with the monitor) nothing is reported.
   */
  handOver?(agentId: string, graceMs: number): void;
  /** Reports every agent past the timeout now (the timer calls it); returns how many. */
  sweep(): number;
  /** Active agents, and inactive ones remembered (for `bye`) until they are forgotten. */
  readonly knownAgents: number;
  readonly activeAgents: number;
  close(): void;
}

export interface ActivityOptions {
  timeoutMs: number;
  onInactive: (agentId: string) => void;
  /**
   * An agent reported inactive is remembered this long (default 1 h), so a late `bye` is not
   * reported twice; at most `maxRemembered` of them (default 100,000, ~10 MB). Past either bound
   * it is forgotten: memory does not grow with every agent id ever seen.
   */
  forgetAfterMs?: number;
  maxRemembered?: number;
  /** How often the sweep runs (default timeoutMs/10, between 50 ms and 1 s). */
  sweepIntervalMs?: number;
  now?: () => number;
}

/** An active agent: its last ping, and the slot (see below) that lists it for the sweep. */
interface Active {
  last: number;
  slot: number;
}

/**
 * The single-process monitor. An agent's last ping is updated in place, so a ping costs one
 * map lookup (an ethstats node pings with every frame: no delete and re-insert per frame, no
 * rehashing of a map of 10,000 agents). For the sweep, time is cut into slots of `slotMs`: an
 * agent is listed in the slot of its last ping, once per slot (a second ping in the same slot
 * adds nothing). The sweep walks the slots from the oldest and looks only at agents listed in
 * slots that reach back past the deadline: O(expired + one slot), not O(agents). An agent
 * listed in an old slot whose last ping is in a newer one is skipped there; it is exactly as
 * late as `timeoutMs` says, never earlier.
 */
export function createActivityMonitor(options: ActivityOptions): ActivityMonitor {
  const now = options.now ?? Date.now;
  const active = new Map<string, Active>();
  /** Agents reported inactive → when; Map order = oldest first. */
  const gone = new Map<string, number>();
  const forgetAfterMs = options.forgetAfterMs ?? 3_600_000;
  const maxRemembered = options.maxRemembered ?? 100_000;
  const interval = options.sweepIntervalMs ??
    Math.max(50, Math.min(1000, Math.floor(options.timeoutMs / 10)));
  const slotMs = Math.max(1, Math.ceil(options.timeoutMs / 10));
  /** Agents listed per slot number, oldest slot first (Map order = insertion order). */
  const slots = new Map<number, string[]>();
  /** The newest slot listed: a clock that went back lists into it, so the order holds. */
  let newestSlot = -Infinity;

  function report(agentId: string): void {
    gone.delete(agentId);
    gone.set(agentId, now());
    try {
      options.onInactive(agentId);
    } catch (err) {
      console.error(`activity: reporting ${agentId} inactive failed:`, err);
    }
  }

  function slotOf(t: number): number {
    newestSlot = Math.max(newestSlot, Math.floor(t / slotMs));
    return newestSlot;
  }

  function list(agentId: string, slot: number): void {
    const ids = slots.get(slot);
    if (ids) ids.push(agentId);
    else slots.set(slot, [agentId]);
  }

  function forget(): void {
    const before = now() - forgetAfterMs;
    for (const [agentId, at] of gone) {
      if (at > before && gone.size <= maxRemembered) break;
      gone.delete(agentId);
    }
  }

  function sweep(): number {
    forget();
    const deadline = now() - options.timeoutMs;
    let count = 0;
    for (const [slot, ids] of slots) {
      if (slot * slotMs > deadline) break; // every ping listed here or later is newer than the deadline
      const kept: string[] = [];
      for (const agentId of ids) {
        const entry = active.get(agentId);
        if (entry === undefined || entry.slot !== slot) continue; // gone, or listed in a newer slot
        if (entry.last <= deadline) {
          active.delete(agentId);
          report(agentId);
          count++;
        } else {
          kept.push(agentId); // same slot, not yet past the deadline
        }
      }
      if (kept.length > 0) {
        // Pinged within the deadline: so was every agent listed in a later slot.
        slots.set(slot, kept);
        break;
      }
      slots.delete(slot);
    }
    return count;
  }

  const timer = setInterval(sweep, interval);

  return {
    sweep,
    ping(agentId) {
      const t = now();
      const slot = slotOf(t);
      const entry = active.get(agentId);
      if (entry === undefined) {
        active.set(agentId, { last: t, slot });
        gone.delete(agentId);
        list(agentId, slot);
        return;
      }
      if (t <= entry.last) return; // a clock that went back: keep the later time
      entry.last = t;
      if (slot !== entry.slot) {
        entry.slot = slot;
        list(agentId, slot);
      }
    },
    bye(agentId) {
      // Reported unless it already was (timed out, or a second bye); also if it never pinged.
      if (active.delete(agentId) || !gone.has(agentId)) report(agentId);
    },
    get knownAgents() {
      return active.size + gone.size;
    },
    get activeAgents() {
      return active.size;
    },
    close() {
      clearInterval(timer);
    },
  };
}
