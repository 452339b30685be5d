/**
 * A/B of the HTTP path: this checkout's service against another commit's, side by side in one
 * run, with the Hono floor of bench/floor_server.ts as the yardstick. On a box whose speed drifts
 * by 2× within minutes (a shared VM), only ratios measured round by round mean something; this
 * is how a change to the request path is judged before `deno task bench` records it.
 *
 * ```sh
 * deno run -A bench/ab.ts --base HEAD~1                      # POST /data, JSON, dashboard receiver
 * deno run -A bench/ab.ts --base 6c81bbe --receivers default --rounds 16 --seconds 4
 * deno run -A bench/ab.ts --base main --encoding msgpack --path /ping
 * deno run -A bench/ab.ts --base HEAD~1 --paired                # the three servers loaded at once
 * deno run -A bench/ab.ts --base HEAD~1 --in-process --rounds 16  # both builds in this process (ab_in_process.ts)
 * ```
 *
 * The base commit is checked out in a temporary git worktree (its own `deno install`, removed
 * afterwards). wrk with 50 connections replays each server's requests in turn, the order rotating
 * every round; CPU per request is the server's CPU time (/proc) over the requests answered. The
 * result is the median over the rounds of each round's ratios. With `--paired` the three servers
 * are loaded at the same time, each by its own wrk: they share the box's slow and fast moments, so
 * their ratio to each other is steadier (this/base 0.70–1.03 over 8 rounds where one at a time gave
 * 0.50–1.82); their ratio to the floor is then not the bench's (six busy processes on two cores).
 */
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { migrate } from "../db/migrate.ts";
import postgres from "postgres";
import { createTokens, protocolRequests } from "./agent_requests.ts";
import { runInProcess } from "./ab_in_process.ts";
import { median } from "./histogram.ts";
import { flag, freePort, procStat, spawnDeno, startServiceProcess } from "./process.ts";
import { runWrk } from "./wrk.ts";

const HERE = new URL("./", import.meta.url).pathname;

async function git(args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  return text;
}

interface Target {
  name: string;
  pid: number;
  port: number;
  requests: Uint8Array[];
  cpuUs: number[];
  p99Ms: number[];
}

async function main(): Promise<void> {
  const ref = flag("base");
  const rounds = Number(flag("rounds", "10"));
  const seconds = Number(flag("seconds", "3"));
  const encoding = flag("encoding", "json") as "json" | "msgpack";
  const path = flag("path", "/data") as "/data" | "/ping";
  const receivers = flag("receivers", "dashboard");
  const paired = Deno.args.includes("--paired");
  const inProcess = Deno.args.includes("--in-process");
  if (receivers !== "dashboard" && receivers !== "default") throw new Error("--receivers dashboard|default");

  const root = await git(["rev-parse", "--show-toplevel"], HERE);
  const commit = await git(["rev-parse", "--short", ref], root);
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-ab-" });
  await Deno.chmod(work, 0o755); // the embedded Postgres runs as OS user postgres under root
  const tree = `${work}/base`;
  const stops: Array<() => Promise<unknown>> = [];
  try {
    await git(["worktree", "add", "--detach", tree, commit], root);
    stops.push(() => git(["worktree", "remove", "--force", tree], root));
    const installed = await new Deno.Command(Deno.execPath(), {
      args: ["install", "--quiet"],
      cwd: tree,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!installed.success) throw new Error(`deno install in ${tree} failed`);
    if (inProcess) {
      await runInProcess({ base: tree, current: root, baseName: commit }, {
        rounds,
        path,
        operations: Number(flag("operations", "20000")),
      });
      return;
    }

    const config: Record<string, unknown> = {};
    if (receivers === "default") {
      const pg = await startEmbeddedPostgres({ dataDir: `${work}/postgres` });
      stops.push(() => pg.stop());
      const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
      await migrate(sql);
      await sql.end();
      config.postgres = { url: pg.url };
    } else {
      config.receivers = [{
        id: "dashboard",
        type: "dashboard",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      }];
    }
    const floorPort = freePort();
    const floor = await spawnDeno(`${HERE}floor_server.ts`, ["hono+middleware+parse", String(floorPort)], {
      ready: /listening on/,
    });
    stops.push(async () => {
      floor.signal("SIGTERM");
      await floor.status;
    });
    const targets: Target[] = [{
      name: "floor",
      pid: floor.pid,
      port: floorPort,
      requests: protocolRequests(`127.0.0.1:${floorPort}`, ["floor"], path, encoding),
      cpuUs: [],
      p99Ms: [],
    }];
    for (const [name, main] of [[commit, `${tree}/main.ts`], ["this", `${root}/main.ts`]] as const) {
      const svc = await startServiceProcess(`${work}/${name}`, config, { main });
      stops.push(() => svc.stop());
      const host = `127.0.0.1:${svc.port}`;
      const requests = protocolRequests(host, await createTokens(svc.base, 20, "ab"), path, encoding);
      targets.push({ name, pid: svc.pid, port: svc.port, requests, cpuUs: [], p99Ms: [] });
    }
    const wrk = (t: Target, durationS: number) =>
      runWrk({
        url: `http://127.0.0.1:${t.port}`,
        requests: t.requests,
        connections: 50,
        durationS,
        workDir: work,
      });
    for (const t of targets) await wrk(t, 2); // JIT warm-up
    console.log(
      `${path} ${encoding}, ${receivers} receivers: floor, base ${commit}, this checkout` +
        (paired ? " (paired: loaded at once)" : ""),
    );
    /** Loads `group` at once, each target by its own wrk, and records each one's CPU per request. */
    const measure = async (group: Target[]) => {
      await new Promise((r) => setTimeout(r, 300));
      const before = group.map((t) => procStat(t.pid));
      const results = await Promise.all(group.map((t) => wrk(t, seconds)));
      group.forEach((t, i) => {
        const after = procStat(t.pid);
        const result = results[i]!;
        if (!before[i] || !after || result.requests === 0) throw new Error(`${t.name}: no measurement`);
        if (result.non2xx > 0) throw new Error(`${t.name}: ${result.non2xx} answers were not 2xx`);
        t.cpuUs.push((after.cpuS - before[i]!.cpuS) / result.requests * 1e6);
        t.p99Ms.push(result.p99Ms);
      });
    };
    for (let round = 0; round < rounds; round++) {
      if (paired) await measure(targets);
      else for (let i = 0; i < targets.length; i++) await measure([targets[(i + round) % targets.length]!]);
      const [f, a, b] = targets.map((t) => t.cpuUs[round]!) as [number, number, number];
      console.log(
        `round ${round + 1}: CPU/request floor ${f.toFixed(1)} µs, ${commit} ${a.toFixed(1)} µs ` +
          `(${(a / f).toFixed(2)}×), this ${b.toFixed(1)} µs (${(b / f).toFixed(2)}×); this/${commit} ` +
          (b / a).toFixed(3),
      );
    }
    const [floorT, baseT, thisT] = targets as [Target, Target, Target];
    const ratio = (x: Target, y: Target) => median(x.cpuUs.map((v, i) => v / y.cpuUs[i]!));
    console.log(
      `median of ${rounds} rounds: ${commit} ${ratio(baseT, floorT).toFixed(2)}× the floor ` +
        `(p99 ${median(baseT.p99Ms).toFixed(2)} ms), this ${ratio(thisT, floorT).toFixed(2)}× ` +
        `(p99 ${median(thisT.p99Ms).toFixed(2)} ms); this/${commit} ${ratio(thisT, baseT).toFixed(3)}`,
    );
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err) => console.error(err));
    await Deno.remove(work, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
