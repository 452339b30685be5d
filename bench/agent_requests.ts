/**
 * What the HTTP benchmarks send: agent users with their session tokens, and raw `POST /data`
 * (an ethereum `statistics` report) or `POST /ping` requests for wrk to replay.
 */
import { encode } from "@msgpack/msgpack";
import { buildRequest } from "./http_client.ts";
import { BENCH_ADMIN } from "./process.ts";

/** The ethereum `statistics` report the benchmarks post, as the POA agent sends it. */
export const STATISTICS = {
  type: "statistics",
  body: {
    active: true,
    mining: false,
    hashrate: 0,
    peers: 12,
    gasPrice: 1_000_000_000,
    syncing: false,
    uptime: 100,
  },
};

/** Creates `n` agent users `<prefix>0…` through the admin API and returns a session token for each. */
export async function createTokens(
  base: string,
  n: number,
  prefix: string,
  admin: { name: string; password: string } = BENCH_ADMIN,
): Promise<string[]> {
  const adminHeader = "Basic " + btoa(`${admin.name}:${admin.password}`);
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) {
    const name = `${prefix}${i}`;
    const password = `password-${name}`;
    const created = await fetch(`${base}/user`, {
      method: "POST",
      headers: { authorization: adminHeader, "content-type": "application/json" },
      body: JSON.stringify({ "user-name": name, password }),
    });
    await created.body?.cancel();
    if (created.status !== 200) throw new Error(`POST /user: ${created.status}`);
    const session = await fetch(`${base}/session`, {
      method: "POST",
      headers: { authorization: "Basic " + btoa(`${name}:${password}`) },
    });
    if (session.status !== 200) throw new Error(`POST /session: ${session.status}`);
    tokens.push((await session.json()).token);
  }
  return tokens;
}

/** Raw requests for wrk: `agents` agent ids (`wrk-agent-<i>`) over the tokens. */
export function protocolRequests(
  host: string,
  tokens: string[],
  path: "/data" | "/ping",
  encoding: "json" | "msgpack",
  agents = 100,
): Uint8Array[] {
  return Array.from({ length: agents }, (_, i) => {
    const body = path === "/data"
      ? { id: `wrk-agent-${i}`, type: "ethereum_metrics", data: STATISTICS }
      : { id: `wrk-agent-${i}` };
    return buildRequest("POST", path, host, {
      authorization: `Bearer ${tokens[i % tokens.length]}`,
      "content-type": encoding === "json" ? "application/json" : "application/msgpack",
    }, encoding === "json" ? JSON.stringify(body) : encode(body));
  });
}
