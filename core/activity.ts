/** The activity monitor seam: agents that stop pinging are reported inactive once. */

/** Tracks pings; reports an agent inactive once when its pings stop or it says bye. */
export interface ActivityMonitor {
  ping(agentId: string): void;
  /** The agent leaves: reported inactive at once (if it was active). */
  bye(agentId: string): void;
  /** Reports every agent past the timeout now (the timer calls it); returns how many. */
  sweep(): number;
  readonly knownAgents: number;
  readonly activeAgents: number;
  close(): void;
}

export interface ActivityOptions {
  timeoutMs: number;
  onInactive: (agentId: string) => void;
  /** How often the sweep runs (default timeoutMs/10, between 50 ms and 1 s). */
  sweepIntervalMs?: number;
  now?: () => number;
}

/**
 * The single-process monitor. Last pings live in one Map kept in ping order (delete + set),
 * so a sweep walks only the expired agents at its front: O(expired), not O(agents), and one
 * timer for all of them.
 */
export function createActivityMonitor(options: ActivityOptions): ActivityMonitor {
  const now = options.now ?? Date.now;
  const lastPing = new Map<string, number>();
  const known = new Set<string>();
  const interval = options.sweepIntervalMs ??
    Math.max(50, Math.min(1000, Math.floor(options.timeoutMs / 10)));

  function report(agentId: string): void {
    try {
      options.onInactive(agentId);
    } catch (err) {
      console.error(`activity: reporting ${agentId} inactive failed:`, err);
    }
  }

  function sweep(): number {
    const deadline = now() - options.timeoutMs;
    let count = 0;
    for (const [agentId, at] of lastPing) {
      if (at > deadline) break; // ping order: everything after is newer
      lastPing.delete(agentId);
      report(agentId);
      count++;
    }
    return count;
  }

  const timer = setInterval(sweep, interval);

  return {
    sweep,
    ping(agentId) {
      lastPing.delete(agentId);
      lastPing.set(agentId, now());
      known.add(agentId);
    },
    bye(agentId) {
      // Reported unless it already was (timed out, or a second bye); also if it never pinged.
      const wasActive = lastPing.delete(agentId) || !known.has(agentId);
      known.add(agentId);
      if (wasActive) report(agentId);
    },
    get knownAgents() {
      return known.size;
    },
    get activeAgents() {
      return lastPing.size;
    },
    close() {
      clearInterval(timer);
    },
  };
}
