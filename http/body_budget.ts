/**
 * Bytes of request bodies being read, per user and in all. Deno sets aside a body's whole
 * Content-Length when it starts reading it, before the bytes come: an agent's connections that
 * declared 8 MB and sent 60 bytes cost 8–16 MB each (1,000 of them took a service to 7.7 GB).
 * A body is read only once its bytes are reserved here, else it is refused with 503 at once.
 */

export interface BodyBudgetOptions {
  /** Bytes of one user's bodies being read at once (at least one body of the size limit). */
  perUserBytes: number;
  /** Bytes of all bodies being read at once. */
  totalBytes: number;
}

export interface BodyBudget {
  /** Reserves `bytes` for a body of `user`; false, with nothing reserved, past either bound. */
  reserve(user: string, bytes: number): boolean;
  /** Gives back what `reserve` took, once the body is read (or its read failed). */
  release(user: string, bytes: number): void;
  stats(): { bytes: number; refused: number };
}

export function createBodyBudget(options: BodyBudgetOptions): BodyBudget {
  const byUser = new Map<string, number>();
  let total = 0;
  let refused = 0;
  return {
    reserve(user, bytes) {
      const mine = byUser.get(user) ?? 0;
      if (total + bytes > options.totalBytes || mine + bytes > options.perUserBytes) {
        refused++;
        return false;
      }
      total += bytes;
      byUser.set(user, mine + bytes);
      return true;
    },
    release(user, bytes) {
      total -= bytes;
      const left = (byUser.get(user) ?? 0) - bytes;
      if (left > 0) byUser.set(user, left);
      else byUser.delete(user);
    },
    stats: () => ({ bytes: total, refused }),
  };
}
