/**
 * The alerts receiver's budget of episodes per agent user and hour (`maxEpisodesPerUserPerHour`):
 * one user flapping its nodes (a report, then `/bye`, 2,000 ids) had raised 38,000 alerts in 18 s,
 * ahead of every other user's. Past the budget a user's new episodes wait for the next hour.
 */

const HOUR_MS = 3_600_000;

export interface EpisodeBudget {
  /**
   * Takes one of `user`'s episodes at `at` for `node`: true while the hour has some left, else
   * when the next hour begins (counted as suppressed; the first node past it is logged, once an hour).
   */
  take(user: string, node: string, at: number): true | number;
  /** Episodes refused since the start. */
  readonly suppressed: number;
}

export function createEpisodeBudget(perHour: number, warn: (line: string) => void): EpisodeBudget {
  /** Per user: the hour its count of opened episodes is for, and that count. */
  const budgets = new Map<string, { start: number; opened: number }>();
  let suppressed = 0;
  return {
    take(user, node, at) {
      let budget = budgets.get(user);
      if (budget === undefined || at - budget.start >= HOUR_MS) {
        budgets.set(user, budget = { start: at, opened: 0 });
      }
      if (budget.opened < perHour) {
        budget.opened++;
        return true;
      }
      suppressed++;
      const until = budget.start + HOUR_MS;
      if (budget.opened === perHour) {
        budget.opened++; // warned for this hour
        warn(
          `user ${user}'s nodes opened ${perHour} alert episodes within an hour (maxEpisodesPerUserPerHour): ` +
            `their new ones are not alerted until ${new Date(until).toISOString()}, the first of them node ` +
            `${JSON.stringify(node.slice(0, 64))}'s (nodes still down then are alerted then; ` +
            "raise maxEpisodesPerUserPerHour for a fleet sharing that user)",
        );
      }
      return until;
    },
    get suppressed() {
      return suppressed;
    },
  };
}
