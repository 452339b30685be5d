/** The auth store seam: where users, banned tokens and the JWT secret live. */

/** A stored agent user. */
export interface StoredUser {
  name: string;
  passwordHash: string;
  active: boolean;
  /** ISO-8601 creation time. */
  createdAt: string;
}

/** A banned token, kept until the token would have expired anyway. */
export interface Ban {
  jti: string;
  /** Epoch seconds of the token's `exp`. */
  exp: number;
}

/** A change another instance (or this one) made, pushed to in-memory caches. */
export type AuthChange =
  | { kind: "user"; name: string }
  | { kind: "ban"; jti: string; exp: number };

/**
 * Persistent auth state. The single-node implementation is Deno KV; a cluster one shares it
 * between instances and reports changes through `watch`.
 */
export interface AuthStore {
  /** Creates a user if the name is free (atomic). */
  createUser(user: StoredUser): Promise<"created" | "exists">;
  getUser(name: string): Promise<StoredUser | null>;
  listUsers(): Promise<StoredUser[]>;
  deleteUser(name: string): Promise<boolean>;
  setActive(name: string, active: boolean): Promise<boolean>;
  banToken(ban: Ban): Promise<void>;
  listBans(): Promise<Ban[]>;
  /** Returns the stored JWT secret, storing `candidate` first if there is none (atomic). */
  ensureSecret(candidate: string): Promise<{ secret: string; created: boolean }>;
  /** Calls `onChange` for changes made elsewhere; returns a function that stops watching. */
  watch(onChange: (change: AuthChange) => void): () => void;
  close(): void | Promise<void>;
}
