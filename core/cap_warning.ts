/**
 * What a receiver logs, once, when more agents report than its cap keeps: past it they take
 * turns being forgotten, and every report costs a forget and a re-add.
 */
export function overCapWarning(option: string, max: number, things: string, stat: string): string {
  return `more than ${option} (${max}) ${things} report: the least recently heard-from are forgotten, ` +
    `and re-added when they report again (${stat} counts them); set ${option} above the number of ${things}`;
}
