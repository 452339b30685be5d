/**
 * Runs `wrk` (Debian package) with a Lua script that replays pre-built raw HTTP requests
 * (POST bodies in JSON or msgpack, rotating tokens and agent ids), and parses its report.
 */

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSecond: number;
  requests: number;
  p50Ms: number;
  p75Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  socketErrors: number;
  durationS: number;
}

const LUA = `
local reqs = {}
local i = 0
init = function(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local pos = 1
  while pos <= #data do
    local nl = string.find(data, "\\n", pos, true)
    local len = tonumber(string.sub(data, pos, nl - 1))
    reqs[#reqs + 1] = string.sub(data, nl + 1, nl + len)
    pos = nl + 1 + len
  end
  i = math.random(#reqs)
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
`;

/** Whether wrk is installed. */
export async function haveWrk(): Promise<boolean> {
  try {
    const out = await new Deno.Command("wrk", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return out.code === 0 || out.code === 1; // wrk --version exits 1
  } catch {
    return false;
  }
}

/** wrk's version line. */
export async function wrkVersion(): Promise<string> {
  try {
    const out = await new Deno.Command("wrk", { args: ["--version"], stdout: "piped", stderr: "piped" })
      .output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return text.split("\n")[0]!.trim();
  } catch {
    return "not installed";
  }
}

function toMs(value: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60_000;
}

/** Parses wrk's text report (run with --latency). */
export function parseWrk(text: string, durationS: number): WrkResult {
  const pct = (p: string) => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, "m").exec(text);
    return m ? toMs(m[1]!) : NaN;
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const total = /(\d+) requests in/.exec(text);
  const max = /Latency\s+\S+\s+\S+\s+(\S+)/.exec(text);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  if (!rps) throw new Error(`cannot parse wrk output:\n${text}`);
  return {
    requestsPerSecond: Number(rps[1]),
    requests: total ? Number(total[1]) : 0,
    p50Ms: pct("50"),
    p75Ms: pct("75"),
    p90Ms: pct("90"),
    p99Ms: pct("99"),
    maxMs: max ? toMs(max[1]!) : NaN,
    non2xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: sock ? sock.slice(1).reduce((n, v) => n + Number(v), 0) : 0,
    durationS,
  };
}

/**
 * Runs wrk against `url` for `durationS` with `connections`, replaying `requests` (raw HTTP
 * request bytes, rotated) — written to a temp file the Lua script reads.
 */
export async function runWrk(options: {
  url: string;
  requests: Uint8Array[];
  connections: number;
  durationS: number;
  threads?: number;
  workDir: string;
}): Promise<WrkResult> {
  const script = `${options.workDir}/replay.lua`;
  await Deno.writeTextFile(script, LUA);
  const file = `${options.workDir}/requests-${crypto.randomUUID().slice(0, 8)}.bin`;
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const r of options.requests) parts.push(enc.encode(`${r.byteLength}\n`), r);
  const size = parts.reduce((n, p) => n + p.byteLength, 0);
  const blob = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    blob.set(p, o);
    o += p.byteLength;
  }
  await Deno.writeFile(file, blob);
  try {
    const out = await new Deno.Command("wrk", {
      args: [
        `-t${options.threads ?? 1}`,
        `-c${options.connections}`,
        `-d${options.durationS}s`,
        "--timeout",
        "10s",
        "--latency",
        "-s",
        script,
        options.url,
        "--",
        file,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return parseWrk(text, options.durationS);
  } finally {
    await Deno.remove(file).catch(() => {});
  }
}
