/**
 * What one piece of a protocol route costs on this Deno: the bench's bare ceiling against the
 * same server plus headers, body parsing, a Hono route and a timing middleware (bench/floor_server.ts),
 * under wrk (50 connections), interleaved rounds, server CPU per request from /proc.
 *
 * `deno run -A bench/floor.ts [--rounds 3] [--seconds 4]` prints a Markdown table.
 */
import { type Variant, VARIANTS } from "./floor_server.ts";
import { buildRequest } from "./http_client.ts";
import { flag, freePort, procStat, spawnDeno } from "./process.ts";
import { runWrk } from "./wrk.ts";

const rounds = Number(flag("rounds", "3"));
const seconds = Number(flag("seconds", "4"));
const work = await Deno.makeTempDir({ prefix: "poa-floor-" });
const body = JSON.stringify({ id: "agent-0001" });
const cpu = new Map<Variant, number[]>();
const rps = new Map<Variant, number[]>();
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  for (let round = 0; round < rounds; round++) {
    for (const variant of Object.keys(VARIANTS) as Variant[]) {
      const port = freePort();
      const child = await spawnDeno(new URL("./floor_server.ts", import.meta.url).pathname, [
        variant,
        String(port),
      ], { ready: /listening on/ });
      try {
        const request = buildRequest("POST", "/ping", `127.0.0.1:${port}`, {
          "content-type": "application/json",
          authorization: "Bearer header.payload.signature",
        }, body);
        const run = (durationS: number) =>
          runWrk({
            url: `http://127.0.0.1:${port}`,
            requests: [request],
            connections: 50,
            durationS,
            workDir: work,
          });
        await run(1); // warm-up
        const before = procStat(child.pid)!.cpuS;
        const result = await run(seconds);
        const used = procStat(child.pid)!.cpuS - before;
        cpu.set(variant, [...(cpu.get(variant) ?? []), used / result.requests * 1e6]);
        rps.set(variant, [...(rps.get(variant) ?? []), result.requestsPerSecond]);
        console.error(
          `round ${round + 1} ${variant}: ${(used / result.requests * 1e6).toFixed(1)} µs/request`,
        );
      } finally {
        child.signal("SIGKILL");
        await child.status;
      }
    }
  }
  const bare = median(cpu.get("bare")!);
  console.log("| server | req/s | CPU/request | CPU/request vs bare |");
  console.log("|---|---:|---:|---:|");
  for (const [variant, what] of Object.entries(VARIANTS) as Array<[Variant, string]>) {
    const c = median(cpu.get(variant)!);
    console.log(
      `| ${what} | ${Math.round(median(rps.get(variant)!)).toLocaleString("en-US")} | ${c.toFixed(1)} µs | ${
        Math.round(bare / c * 100)
      } % |`,
    );
  }
} finally {
  await Deno.remove(work, { recursive: true });
}
