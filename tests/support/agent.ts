/** An agent over the real protocol (admin creates its user, it gets a token, pings and reports). */
import { ADMIN, basic } from "./harness.ts";

/** Creates a random agent user through the admin API and returns a session token for it. */
export async function agentSession(base: string): Promise<string> {
  const user = "agent" + crypto.randomUUID().slice(0, 8);
  const password = "password-" + crypto.randomUUID();
  const created = await fetch(`${base}/user`, {
    method: "POST",
    headers: { authorization: basic(ADMIN.name, ADMIN.password), "content-type": "application/json" },
    body: JSON.stringify({ "user-name": user, password }),
  });
  if (created.status !== 200) throw new Error(`create user: ${created.status} ${await created.text()}`);
  await created.body?.cancel();
  const session = await fetch(`${base}/session`, {
    method: "POST",
    headers: { authorization: basic(user, password) },
  });
  if (session.status !== 200) throw new Error(`session: ${session.status} ${await session.text()}`);
  return (await session.json()).token;
}

/** POSTs a protocol request (`/ping`, `/data`, `/bye`) as JSON with the bearer token; throws unless 200. */
export async function report(
  base: string,
  token: string,
  path: string,
  body: Record<string, unknown>,
  forwardedFor?: string,
): Promise<void> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(forwardedFor === undefined ? {} : { "x-forwarded-for": forwardedFor }),
    },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${text}`);
}

/** An agent id with its token, reporting `{type, body}` payloads under a metric type. */
export interface Agent {
  id: string;
  ping(): Promise<void>;
  send(type: string, data: { type: string; body: unknown }): Promise<void>;
  bye(): Promise<void>;
}

/**
 * Creates an agent (its own user and token) with the given id; `forwardedFor` is the client
 * address a trusted proxy would pass on (X-Forwarded-For), e.g. a public address for the map.
 */
export async function createAgent(base: string, id: string, forwardedFor?: string): Promise<Agent> {
  const token = await agentSession(base);
  return {
    id,
    ping: () => report(base, token, "/ping", { id }, forwardedFor),
    send: (type, data) => report(base, token, "/data", { id, type, data }, forwardedFor),
    bye: () => report(base, token, "/bye", { id }, forwardedFor),
  };
}

/** Polls `probe` every 25 ms until it returns something other than undefined, for at most `timeoutMs`. */
export async function eventually<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
