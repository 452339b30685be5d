/**
 * First logins at once: a network's POA agents restarting together. Each agent sends
 * `POST /session` (Basic, msgpack `{"agent-id"}`, user-agent hackney, as poa-netstats-agent
 * does) and gives up after 500 ms (its `recv_timeout`), dropping the report it wanted to send.
 * Every round uses fresh users, so every login runs scrypt (nothing is cached).
 */
import { encode } from "@msgpack/msgpack";
import { startServiceProcess } from "./process.ts";

export interface LoginsResult {
  agents: number;
  rounds: number;
  /** Per round: the slowest and the median login (ms), and how many answered 200. */
  perRound: Array<{ maxMs: number; medianMs: number; ok: number }>;
  /** The agent's own timeout. */
  timeoutMs: number;
}

export const AGENT_LOGIN_TIMEOUT_MS = 500;

export async function benchLogins(
  work: string,
  adminHeader: string,
  agents = 24,
  rounds = 5,
): Promise<LoginsResult> {
  const svc = await startServiceProcess(`${work}/logins`, {
    receivers: [{ id: "dashboard", type: "dashboard", subscribe: ["ethereum_metrics"] }],
  });
  try {
    const perRound: LoginsResult["perRound"] = [];
    for (let round = 0; round < rounds; round++) {
      const users = Array.from({ length: agents }, (_, i) => ({
        name: `login-${round}-${i}`,
        password: `pw-${crypto.randomUUID()}`,
      }));
      for (const u of users) {
        const created = await fetch(`${svc.base}/user`, {
          method: "POST",
          headers: { authorization: adminHeader, "content-type": "application/json" },
          body: JSON.stringify({ "user-name": u.name, password: u.password }),
        });
        await created.body?.cancel();
        if (created.status !== 200) throw new Error(`POST /user: ${created.status}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // the user hashes are done
      const timings = await Promise.all(users.map(async (u) => {
        const started = performance.now();
        const res = await fetch(`${svc.base}/session`, {
          method: "POST",
          headers: {
            authorization: "Basic " + btoa(`${u.name}:${u.password}`),
            "content-type": "application/msgpack",
            "user-agent": "hackney/1.12.1",
          },
          body: encode({ "agent-id": u.name }),
        });
        await res.arrayBuffer();
        return { ms: performance.now() - started, ok: res.status === 200 };
      }));
      const sorted = timings.map((t) => t.ms).sort((a, b) => a - b);
      perRound.push({
        maxMs: sorted.at(-1)!,
        medianMs: sorted[Math.floor(sorted.length / 2)]!,
        ok: timings.filter((t) => t.ok).length,
      });
    }
    return { agents, rounds, perRound, timeoutMs: AGENT_LOGIN_TIMEOUT_MS };
  } finally {
    await svc.stop();
  }
}
