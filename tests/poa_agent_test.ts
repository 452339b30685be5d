/**
 * POA Network's own agent (github.com/poanetwork/poa-netstats-agent, Elixir), built from its
 * source and run against the whole service beside a real Ethereum node (ganache): every request
 * the service reads here was built by the agent's code and sent by its HTTP client (hackney) or
 * its websocket client (websockex), not replayed by a test.
 *
 * The agent and its runtime dependencies are vendored at its mix.lock versions in
 * tests/clients/poa-netstats-agent (vendor/SOURCES) and built offline by its build.sh with
 * Debian's elixir (`.ci/run` installs it; without it these tests are skipped, loudly). Two
 * things differ from a deployment, both outside the agent's code: its JSON-RPC goes through
 * `parityRpc`, which answers `eth_protocolVersion` in decimal as Parity (POA's node) did —
 * ganache answers "0x3f" and the agent's `String.to_integer` crashes on it — and its URLs are
 * plain http (hackney 1.12.1 calls `ssl:cipher_suites/0`, which OTP 25 no longer has).
 */
import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { type Child, CLIENTS, runChild, startGanache } from "./support/clients.ts";
import { adminAuth, createUser, recorderType, waitFor } from "./support/harness.ts";
import { startTestPostgres, type TestPostgres } from "./support/postgres.ts";
import { startTestService, type TestService } from "./support/service.ts";

const AGENT_DIR = `${CLIENTS}poa-netstats-agent`;
/** The build (gitignored), made again by each run of this file (build.sh copies the sources afresh). */
const BUILD_DIR = `${AGENT_DIR}/.build`;

const onPath = (name: string) =>
  (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  });
const haveElixir = onPath("elixir") && onPath("mix");
/** Without Debian's elixir the agent cannot be built: skipped, loudly; in CI (which installs it) they fail. */
const skip = !haveElixir && !Deno.env.get("CI");
if (skip) {
  console.warn(
    "poa_agent_test: elixir/mix are missing (apt-get install elixir erlang-dev erlang-os-mon erlang-inets " +
      "erlang-ssl erlang-syntax-tools erlang-parsetools erlang-xmerl): the POA agent tests are skipped",
  );
}

let building: Promise<void> | undefined;
/** Builds the agent once per run of this file (about 15 s). */
function built(): Promise<void> {
  return building ??= (async () => {
    const out = await new Deno.Command(`${AGENT_DIR}/build.sh`, { args: [BUILD_DIR] }).output();
    const log = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (!out.success) throw new Error(`building the POA agent failed:\n${log.slice(-4000)}`);
  })();
}

/**
 * A JSON-RPC endpoint in front of ganache that answers as POA's Parity nodes did where the agent
 * depends on it: `eth_protocolVersion` as a decimal string ("63"), not ganache's "0x3f".
 */
function parityRpc(ganachePort: number): { url: string; close(): Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = await req.text();
    const res = await fetch(`http://127.0.0.1:${ganachePort}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const answer = await res.json();
    const call = JSON.parse(body);
    if (call.method === "eth_protocolVersion" && /^0x[0-9a-f]+$/i.test(answer.result)) {
      answer.result = String(parseInt(answer.result, 16));
    }
    return Response.json(answer);
  });
  return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

interface AgentSettings {
  rpc: string;
  backend: string;
  id: string;
  user: string;
  password: string;
  transfer: "rest" | "primus";
}

/**
 * Starts the built agent (`mix run --no-halt`, MIX_ENV=prod). `stop` kills the BEAM; the port
 * programs os_mon starts with it (memsup, cpu_sup) exit when their pipe to it closes.
 */
function startAgent(s: AgentSettings): Child {
  return runChild("elixir", ["-S", "mix", "run", "--no-halt"], {
    cwd: BUILD_DIR,
    env: {
      MIX_ENV: "prod",
      HEX_OFFLINE: "1",
      MIX_HOME: `${BUILD_DIR}/.mix`,
      HEX_HOME: `${BUILD_DIR}/.hex`,
      POA_AGENT_RPC_URL: s.rpc,
      POA_AGENT_BACKEND: s.backend,
      POA_AGENT_ID: s.id,
      POA_AGENT_USER: s.user,
      POA_AGENT_PASSWORD: s.password,
      POA_AGENT_TRANSFER: s.transfer,
    },
  });
}

/** An agent running against the service, with what the service's recorder got from it. */
interface RunningAgent {
  child: Child;
  id: string;
  /** The recorded reports of this agent, in order. */
  reports(): Message[];
  /** `metric type/payload type` of every report recorded, e.g. `ethereum_metrics/block`. */
  kinds(): Set<string>;
  /** `waitFor`, and on a timeout what the agent logged last and what the service got from it. */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
}

interface Setup {
  service: TestService;
  ganache: Awaited<ReturnType<typeof startGanache>>;
  sql: TestPostgres["sql"];
  agent: RunningAgent;
}

/**
 * A service with a recorder of every metric type and the Postgres statistics receivers, ganache
 * (three blocks mined) behind `parityRpc`, one agent user, and the agent `id` reporting with
 * `transfer` as that user; `config` is merged over the service's.
 */
async function withAgent(
  id: string,
  transfer: AgentSettings["transfer"],
  fn: (setup: Setup) => Promise<void>,
  config: Record<string, unknown> = {},
): Promise<void> {
  await built();
  const pg = await startTestPostgres();
  const seen: Record<string, { messages: Message[]; inactive: string[] }> = {};
  const ganache = await startGanache();
  const rpc = parityRpc(ganache.port);
  const service = await startTestService({
    postgres: { url: pg.url },
    receivers: [
      {
        id: "rec",
        type: "recorder",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      },
      { id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] },
      { id: "system_stats", type: "system_stats", subscribe: ["system_metrics"] },
    ],
    ...config,
  }, { recorder: recorderType(seen) });
  let child: Child | undefined;
  try {
    await createUser(service.base, "poa-node", "poa-node-pa55word");
    for (let i = 0; i < 3; i++) await ganache.rpc("evm_mine");
    child = startAgent({
      rpc: rpc.url,
      backend: service.base,
      id,
      user: "poa-node",
      password: "poa-node-pa55word",
      transfer,
    });
    const reports = () => seen["rec"]!.messages.filter((m) => m.agentId === id);
    const kinds = () => new Set(reports().map((m) => `${m.dataType}/${m.data["type"]}`));
    const log = child.lines;
    const agent: RunningAgent = {
      child,
      id,
      reports,
      kinds,
      async until(predicate, what, timeoutMs = 30_000) {
        try {
          await waitFor(predicate, timeoutMs, what);
        } catch (err) {
          const tail = log.filter((l) => !/deprecated|^\s/.test(l)).slice(-40).join("\n");
          throw new Error(`${err}; the service got from ${id}: ${[...kinds()]}; the agent logged:\n${tail}`);
        }
      },
    };
    await fn({ service, ganache, sql: pg.sql, agent });
  } finally {
    await child?.stop();
    await service.close();
    await rpc.close();
    await ganache.stop();
    await pg.close();
  }
}

/** The agent's log lines that say a request failed (its transfers' warnings). */
const failures = (agent: RunningAgent) =>
  agent.child.lines.filter((l) =>
    /Error sending with POST|Error unexpected sending|Connection refused because/.test(l)
  );
/** How many times the REST transfer was answered 401 and logged in again. */
const relogins = (agent: RunningAgent) =>
  agent.child.lines.filter((l) => l.includes("Error 401, getting a new Token")).length;

const setActive = async (base: string, active: boolean) => {
  const res = await fetch(`${base}/user/poa-node`, {
    method: "PATCH",
    headers: { ...adminAuth, "content-type": "application/json" },
    body: JSON.stringify({ active }),
  });
  assert.equal(res.status, 204, await res.text());
};

/** A new head mined on ganache arrives as the agent's block report, with ganache's number and hash. */
async function newHeadArrives(ganache: Setup["ganache"], agent: RunningAgent): Promise<void> {
  await ganache.rpc("evm_mine");
  const head = await ganache.rpc("eth_getBlockByNumber", ["latest", false]) as {
    number: string;
    hash: string;
  };
  const number = parseInt(head.number, 16);
  await agent.until(
    () =>
      agent.reports().some((m) => {
        const body = m.data["body"] as Record<string, unknown> | undefined;
        return m.data["type"] === "block" && body?.["number"] === number && body?.["hash"] === head.hash;
      }),
    `block ${number} (${head.hash})`,
  );
}

Deno.test({
  name:
    "POA Network's agent (built from source, REST transfer) beside ganache: logs in after its empty-token 401, every kind of report arrives, its statistics are rows in Postgres",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withAgent("poa-node-1", "rest", async ({ service, ganache, sql, agent }) => {
      const all = [
        "ethereum_metrics/information",
        "ethereum_metrics/block",
        "ethereum_metrics/history",
        "ethereum_metrics/statistics",
        "networking_metrics/latency", // sent after each /ping answered 200
        "system_metrics/statistics",
      ];
      await agent.until(() => all.every((k) => agent.kinds().has(k)), "every kind of report", 60_000);
      await newHeadArrives(ganache, agent);
      await agent.until(() => service.service.runners[2]!.stats().delivered_total > 0, "a system_stats row");
      const [eth] = await sql<{ n: number }[]>`
        select count(*)::int as n from eth_stats where agent_id = 'poa-node-1' and peers is not null`;
      assert.ok(eth!.n >= 1, "eth_stats rows of the agent");
      const [sys] = await sql<{ n: number; mem: number | null }[]>`
        select count(*)::int as n, max(memory_usage) as mem from system_stats where agent_id = 'poa-node-1'`;
      assert.ok(
        sys!.n >= 1 && sys!.mem !== null && sys!.mem > 0,
        `system_stats rows: ${JSON.stringify(sys)}`,
      );
      // Its one refused request is the first, sent with an empty token before it had logged in.
      assert.deepEqual(failures(agent), []);
      assert.equal(relogins(agent), 1);
    });
  },
});

Deno.test({
  name:
    "POA Network's agent (REST transfer): its user deactivated, every report is refused though it logs in again and again; reactivated, it logs in by itself and reports",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withAgent("poa-node-2", "rest", async ({ service, agent }) => {
      await agent.until(() => agent.kinds().has("networking_metrics/latency"), "a ping answered", 60_000);
      await setActive(service.base, false);
      const before = relogins(agent);
      await agent.until(() => relogins(agent) > before, "a refused request");
      await new Promise((r) => setTimeout(r, 500)); // requests that were past their check
      const kept = agent.reports().length;
      // Pings every 3 s and statistics every 5 s: each refused, and the new login with it.
      await agent.until(() => relogins(agent) >= before + 3, "three refused requests");
      assert.equal(agent.reports().length, kept, "nothing is accepted from a deactivated user");
      await setActive(service.base, true);
      await agent.until(
        () => agent.reports().slice(kept).some((m) => m.data["type"] === "latency"),
        "a ping answered after reactivation",
      );
    });
  },
});

Deno.test({
  name:
    "POA Network's agent (REST transfer) with tokens of 3 s: each expiry is a 401 token_expired after which it logs in again, and its reports go on",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withAgent("poa-node-4", "rest", async ({ service, ganache, agent }) => {
      await agent.until(() => agent.kinds().has("system_metrics/statistics"), "a first report", 60_000);
      // (A ping answered only after a new login is not followed by a latency report: the agent's own
      // quirk, which with tokens this short is every ping.)
      await agent.until(() => relogins(agent) >= 4, "three expired tokens replaced");
      const kept = agent.reports().length;
      await agent.until(() => relogins(agent) >= 6, "two more");
      const after = agent.reports().slice(kept).map((m) => `${m.dataType}/${m.data["type"]}`);
      assert.ok(after.includes("system_metrics/statistics"), `reports after renewed tokens: ${after}`);
      await newHeadArrives(ganache, agent);
      assert.ok(service.service.auth.stats["expired"]! >= 5, JSON.stringify(service.service.auth.stats));
      assert.deepEqual(failures(agent), []);
    }, { jwt: { secret: "a-test-secret-of-enough-length", ttlSeconds: 3 } });
  },
});

Deno.test({
  name:
    "POA Network's agent (built from source, Primus transfer) on the ethstats websocket /api with secret user:password: hello, blocks with their history, statistics, and the latency of its answered node-pings arrive",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withAgent("poa-node-3", "primus", async ({ ganache, agent }) => {
      const all = ["information", "block", "history", "statistics"].map((t) => `ethereum_metrics/${t}`);
      await agent.until(() => all.every((k) => agent.kinds().has(k)), "hello, block, history, stats", 60_000);
      await newHeadArrives(ganache, agent);
      // Its node-ping every 3 s is answered: the latency it works out from the pong is reported.
      await agent.until(() => agent.kinds().has("ethereum_metrics/latency"), "a latency report");
      assert.deepEqual(failures(agent), []);
    });
  },
});

Deno.test({
  name:
    "POA Network's agent (Primus transfer) stays logged in across the service's heartbeats (it is no Primus client: a \"primus::ping\" string crashes its websocket)",
  ignore: skip,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await withAgent("poa-node-5", "primus", async ({ service, agent }) => {
      const counters = () => service.service.ethstats!.stats();
      await agent.until(() => agent.kinds().has("ethereum_metrics/latency"), "a latency report", 60_000);
      const logins = counters()["logins_ok"];
      // Two heartbeat intervals of 8 s: the service sent it a node-pong every 3 s (its node-pings),
      // so no heartbeat; before, each one crashed its websocket and it logged in again.
      const kept = agent.reports().length;
      await new Promise((r) => setTimeout(r, 17_000));
      assert.equal(counters()["logins_ok"], logins, "no new login: the socket stayed");
      assert.ok(agent.reports().slice(kept).some((m) => m.data["type"] === "latency"), "latencies went on");
      assert.deepEqual(agent.child.lines.filter((l) => l.includes("terminating")), []);
    }, { ethstats: { pingIntervalSeconds: 8 } });
  },
});
