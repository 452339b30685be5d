/**
 * Who holds the places of a capped set, by address (the dashboard pages of web_dashboard/feed.ts):
 * when the set is full, a newcomer from an address holding fewer places than the address holding
 * the most takes that address's oldest place. Without it, 20 addresses of 50 pages each (the
 * per-address cap) held the 1,000 places for good, reading nothing, and every other page got 503.
 */
export interface FairShare<T> {
  add(address: string, item: T): void;
  /** Forgets `item` (idempotent). */
  remove(item: T): void;
  /**
   * The place to give up for a newcomer from `address` when the set is full: the oldest of the
   * address holding the most, when that is at least two more than `address` holds (else the two
   * would take turns); undefined when none.
   */
  victimFor(address: string): T | undefined;
}

export function createFairShare<T>(): FairShare<T> {
  /** Each address's items, oldest first. */
  const held = new Map<string, Set<T>>();
  const addressOf = new Map<T, string>();
  return {
    add(address, item) {
      let items = held.get(address);
      if (items === undefined) held.set(address, items = new Set());
      items.add(item);
      addressOf.set(item, address);
    },
    remove(item) {
      const address = addressOf.get(item);
      if (address === undefined) return;
      addressOf.delete(item);
      const items = held.get(address)!;
      items.delete(item);
      if (items.size === 0) held.delete(address);
    },
    victimFor(address) {
      let most: Set<T> | undefined;
      for (const items of held.values()) if (most === undefined || items.size > most.size) most = items;
      const own = held.get(address)?.size ?? 0;
      if (most === undefined || most.size < own + 2) return undefined;
      return most.values().next().value;
    },
  };
}
