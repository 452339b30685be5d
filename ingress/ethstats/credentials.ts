/**
 * Who an ethstats `hello` logs in as. Every client puts the node's name and secret on the
 * wire differently (research notes in the README, "Nodes on the ethstats socket"):
 *
 * - go-ethereum `--ethstats name:secret@host` splits at the *last* `:` before the `@`, so the
 *   secret never holds a colon; `hello.id` and `info.name` are the name.
 * - Besu `--ethstats=name:secret@host` splits at the *first* `:`, so the secret may hold
 *   colons; `hello.id` is the enode id and the name is only in `info.name`.
 * - Nethermind (`EthStats.Name`, `EthStats.Secret`) and eth-net-intelligence-api
 *   (`INSTANCE_NAME`, `WS_SECRET`) send the secret verbatim.
 *
 * So the rules, in order, each deciding on one candidate (one scrypt per hello at most):
 *
 * 1. the configured shared secret: the node reports under its `hello.id`;
 * 2. a secret `user:password` whose `user` is a known user (verbatim clients, Besu);
 * 3. otherwise the node name (`info.name`, else `hello.id`) is `[display:]user` and the
 *    secret is the password: geth `--ethstats alice:pw@host` logs in as `alice`, and
 *    `--ethstats node-7:alice:pw@host` logs in as `alice` and shows as `node-7`.
 */
import { attemptOutcome, type LoginLimiter } from "../../auth/login_limit.ts";
import { safeEqual } from "../../auth/password.ts";
import type { AuthService, LoginOutcome } from "../../auth/service.ts";
import type { Hello } from "./frames.ts";

export type EthstatsCredentials =
  /** The shared secret matched: no user, no per-user bans. */
  | { kind: "shared"; agentId: string; displayName: string | null }
  /** Check `password` for `user`; the node reports as `agentId`. */
  | { kind: "user"; user: string; password: string; agentId: string; displayName: string | null };

export interface CredentialRules {
  sharedSecret?: string;
  /** Whether a user of this name exists (rule 2 applies only to known users). */
  isUser(name: string): boolean;
}

/**
 * Reads the credentials of a hello. `displayName` is the name to show when the client's
 * name carried a user part (rule 3 with a `display:` prefix), else null (keep `info.name`).
 */
export function readCredentials(
  id: string,
  name: string | null,
  secret: string,
  rules: CredentialRules,
): EthstatsCredentials {
  if (rules.sharedSecret !== undefined && safeEqual(secret, rules.sharedSecret)) {
    return { kind: "shared", agentId: id, displayName: null };
  }
  const colon = secret.indexOf(":");
  if (colon > 0 && rules.isUser(secret.slice(0, colon))) {
    return {
      kind: "user",
      user: secret.slice(0, colon),
      password: secret.slice(colon + 1),
      agentId: id,
      displayName: null,
    };
  }
  const nodeName = name !== null && name !== "" ? name : id;
  const last = nodeName.lastIndexOf(":");
  if (last < 0) return { kind: "user", user: nodeName, password: secret, agentId: id, displayName: null };
  const display = nodeName.slice(0, last);
  const user = nodeName.slice(last + 1);
  return {
    kind: "user",
    user,
    password: secret,
    // geth sends the name as its id too: the node reports under the display part (under the
    // user's name when that part is empty, `:alice`: an agent id is never empty).
    agentId: id !== nodeName ? id : display === "" ? user : display,
    displayName: display === "" ? user : display,
  };
}

/** What a hello logs in as, or why not. */
export type HelloLogin =
  | { ok: true; user: string | null; agentId: string; displayName: string | null }
  | {
    ok: false;
    message: string;
    /** Refused by the login limit (which key: auth/login_limit.ts), not for its credentials. */
    limited?: "address" | "pair";
  };

/**
 * Logs a hello in: reads its credentials, then (unless the shared secret matched) checks the
 * password under the login limit, as an agent login attempt from `address`.
 */
export async function authenticateHello(
  deps: { auth: AuthService; limiter?: LoginLimiter; sharedSecret?: string },
  address: string,
  hello: Hello,
): Promise<HelloLogin> {
  const name = typeof hello.info.name === "string" ? hello.info.name : null;
  const creds = readCredentials(hello.id, name, hello.secret, {
    sharedSecret: deps.sharedSecret,
    // Existing, active or not: a deactivated user's `user:password` is that user's login, refused
    // as inactive (no guess), not a guess at a user named after the node.
    isUser: (user) => deps.auth.isUser(user),
  });
  if (creds.kind === "shared") return { ok: true, user: null, agentId: creds.agentId, displayName: null };
  const start = deps.limiter?.begin("agent", address, creds.user);
  if (start?.limited) {
    return {
      ok: false,
      message: `too many failed logins; retry in ${start.retryAfterSeconds} s`,
      limited: start.by,
    };
  }
  let outcome: LoginOutcome | undefined;
  try {
    outcome = await deps.auth.login(creds.user, creds.password);
  } finally {
    // A check that could not run (the auth store away: thrown on, 1013 auth_store_unavailable
    // by the sessions) is no guess: it was "wrong secret", the permanent close, and counted.
    start?.attempt.settle(attemptOutcome(outcome));
  }
  if (outcome === "inactive") return { ok: false, message: "user is inactive or deleted" };
  if (outcome !== "ok") return { ok: false, message: "wrong secret" };
  return { ok: true, user: creds.user, agentId: creds.agentId, displayName: creds.displayName };
}
