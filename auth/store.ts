/** The auth store seam: where users, banned tokens and the JWT secret live. */

/** A stored agent user. */
export interface StoredUser {
  name: string;
  passwordHash: string;
  active: boolean;
  /** ISO-8601 creation time. */
  createdAt: string;
  /**
   * Tokens carry the epoch of their user when issued and are valid only while it is unchanged:
   * a new random one at creation and at every deactivation, so a token never comes back to life
   * (re-created user, reactivated user). "" for users stored before epochs existed.
   */
  tokenEpoch: string;
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
  /** Sets `active`, and the user's token epoch when one is given. */
  setActive(name: string, active: boolean, tokenEpoch?: string): Promise<boolean>;
  banToken(ban: Ban): Promise<void>;
  listBans(): Promise<Ban[]>;
  /** Returns the stored JWT secret, storing `candidate` first if there is none (atomic). */
  ensureSecret(candidate: string): Promise<{ secret: string; created: boolean }>;
  /** Calls `onChange` for changes made elsewhere; returns a function that stops watching. */
  watch(onChange: (change: AuthChange) => void): () => void;
  close(): void | Promise<void>;
}

/**
 * The store cannot serve the call now (its database did not answer within the deadline, or its disk
 * is full or failing): the caller answers 503 with Retry-After.
 */
export class StoreUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreUnavailableError";
  }
}

type Wrap = <A extends unknown[], R>(
  what: string,
  call: (...args: A) => Promise<R>,
) => (...args: A) => Promise<R>;

/** The store with each call (but `watch` and `close`) passed through `wrap`, by name. */
function wrapCalls(store: AuthStore, wrap: Wrap): AuthStore {
  return {
    createUser: wrap("createUser", (user) => store.createUser(user)),
    getUser: wrap("getUser", (name) => store.getUser(name)),
    listUsers: wrap("listUsers", () => store.listUsers()),
    deleteUser: wrap("deleteUser", (name) => store.deleteUser(name)),
    setActive: wrap("setActive", (name, active, epoch) => store.setActive(name, active, epoch)),
    banToken: wrap("banToken", (ban) => store.banToken(ban)),
    listBans: wrap("listBans", () => store.listBans()),
    ensureSecret: wrap("ensureSecret", (candidate) => store.ensureSecret(candidate)),
    watch: (onChange) => store.watch(onChange),
    close: () => store.close(),
  };
}

/**
 * The store with a deadline on every call: a login or admin call while the store's database is
 * unreachable fails after `timeoutMs` with StoreUnavailableError instead of waiting for TCP
 * timeouts (the call itself is left to finish or fail on its own).
 */
export function withDeadline(store: AuthStore, timeoutMs: number): AuthStore {
  return wrapCalls(store, (what, call) => (...args) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    return Promise.race([
      call(...args),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new StoreUnavailableError(`the auth store did not answer ${what} within ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  });
}

/** SQLite's errors for a full, read-only or failing disk (Deno KV throws them as TypeError). */
const STORAGE_FAILURE = /disk is full|disk I\/O error|readonly database|unable to open database file/i;

/** A failure of the store's disk (SQLite's, under Deno KV). */
function diskFailure(err: Error): boolean {
  return STORAGE_FAILURE.test(err.message);
}

/** postgres.js's own codes for a connection that failed or went away. */
const CONNECTION_LOST = new Set([
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

/**
 * Postgres unreachable or going away, not a query's own failure: a socket error (ECONNREFUSED…),
 * postgres.js's connection codes, SQLSTATE class 08 (connection exception), 57P01-57P03 (shutting
 * down, cannot connect now) and 53300 (too many connections).
 */
export function postgresUnavailable(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  return /^E[A-Z]+$/.test(code) || CONNECTION_LOST.has(code) || /^08[0-9A-Z]{3}$/.test(code) ||
    /^57P0[123]$/.test(code) || code === "53300";
}

/**
 * The store with its storage's failures (`isFailure`: the disk's by default) as
 * StoreUnavailableError, logged once per call: an admin call on a full disk, or with the cluster's
 * Postgres stopped, was a 500 with a stack trace per request.
 */
export function withStorageFailures(
  store: AuthStore,
  log: (line: string) => void = (line) => console.error(line),
  isFailure: (err: Error) => boolean = diskFailure,
): AuthStore {
  return wrapCalls(store, (what, call) => async (...args) => {
    try {
      return await call(...args);
    } catch (err) {
      if (!(err instanceof Error) || !isFailure(err)) throw err;
      log(`auth store: ${what} failed: ${err.message}`);
      throw new StoreUnavailableError(`the auth store could not ${what}: ${err.message}`, { cause: err });
    }
  });
}
