/**
 * Processes of the local cluster runner (tasks/cluster.ts): started in sessions of their own,
 * supervised, stopped; the binaries they run; what /proc says about a process.
 */
import { signal } from "../db/embedded_host.ts";

export { freePort } from "../core/ports.ts";

const OUTPUT_LINES = 200;
const RESTART_MAX_MS = 30_000;
/** A process that ran this long before it died starts again after the first delay. */
const STABLE_MS = 60_000;

/** The first candidate that runs (`<binary> <versionArg>` succeeds), else an error naming the package. */
async function findBinary(
  candidates: Array<string | undefined>,
  versionArg: string,
  missing: string,
): Promise<string> {
  for (const c of candidates) {
    if (!c) continue;
    try {
      const out = await new Deno.Command(c, { args: [versionArg], stdout: "null", stderr: "null" }).output();
      if (out.success) return c;
    } catch {
      // not there
    }
  }
  throw new Error(missing);
}

/** The nats-server binary: $NATS_SERVER, on PATH, or Debian's /usr/sbin/nats-server. */
export function natsServerBinary(): Promise<string> {
  return findBinary(
    [Deno.env.get("NATS_SERVER"), "nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"],
    "--version",
    "nats-server not found: install it (apt-get install nats-server) or set NATS_SERVER",
  );
}

/**
 * One nats-server on 127.0.0.1:`port` (`binary` from natsServerBinary), not supervised, for tests:
 * `args` follow the address and port (`-js -sd <dir>`, `--user …`); ready once it takes TCP
 * connections; its log lines in `output()`.
 */
export function localNatsServer(binary: string, port: number, args: string[] = []): ManagedProcess {
  return managedProcess(
    "nats",
    { cmd: binary, args: ["-a", "127.0.0.1", "-p", String(port), ...args], env: {} },
    () => Deno.connect({ hostname: "127.0.0.1", port }).then((c) => (c.close(), true)),
    { log: () => {}, supervise: false },
  );
}

/** The haproxy binary: $HAPROXY, on PATH, or Debian's /usr/sbin/haproxy. */
export function haproxyBinary(): Promise<string> {
  return findBinary(
    [Deno.env.get("HAPROXY"), "haproxy", "/usr/sbin/haproxy"],
    "-v",
    "haproxy not found: install it (apt-get install haproxy) or set HAPROXY",
  );
}

/** A process the runner started. */
export interface ManagedProcess {
  name: string;
  readonly running: boolean;
  /** Times the supervisor started it again after it exited on its own. */
  readonly restarts: number;
  /** Its pid while it runs. */
  readonly pid: number | undefined;
  /** Starts it (again) and waits until it is ready. */
  start(): Promise<void>;
  /** Stops it for good (no restart): sends a signal and waits for the exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Sends a signal and nothing else (SIGSTOP, SIGCONT; a SIGKILL here is a crash the supervisor sees). */
  signal(signal: Deno.Signal): void;
  /** Its last output lines. */
  output(): string;
}

interface Child {
  proc: Deno.ChildProcess;
  exited: Promise<Deno.CommandStatus>;
}

/**
 * Spawns a process in a session of its own (`setsid`: a terminal's Ctrl-C reaches the runner
 * only, which stops it in order), its output going line by line to `onLine`.
 */
function spawn(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  onLine: (line: string) => void,
): Child {
  const proc = new Deno.Command("setsid", {
    args: [cmd, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    }
    if (rest) onLine(rest);
  };
  const pumps = Promise.all([pump(proc.stdout), pump(proc.stderr)]).catch(() => {});
  const exited = (async () => {
    const status = await proc.status;
    await pumps;
    return status;
  })();
  return { proc, exited };
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, alive: () => boolean) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (!alive()) throw new Error(`${what} exited while starting`);
    if (Date.now() > deadline) throw new Error(`${what} did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function ring(): { push(line: string): void; text(): string } {
  const lines: string[] = [];
  return {
    push(line) {
      lines.push(line);
      if (lines.length > OUTPUT_LINES) lines.shift();
    },
    text: () => lines.join("\n"),
  };
}

/**
 * A process the runner can start, stop and supervise: when it exits without `kill()` and
 * `supervise` is on, the death is logged and it is started again after a backoff.
 */
export function managedProcess(
  name: string,
  command: { cmd: string; args: string[]; env: Record<string, string> },
  ready: () => Promise<boolean>,
  options: {
    log: (line: string) => void;
    supervise: boolean;
    /**
     * Where its pid is recorded while it runs (`<pidDir>/<name>.pid`), for `stopOrphans`: a
     * runner killed with SIGKILL leaves its children running, and the next one finds them there.
     */
    pidDir?: string;
  },
): ManagedProcess {
  const out = ring();
  let child: Child | undefined;
  let running = false;
  /** Set by kill(): the exit is wanted, nothing restarts it. */
  let stopped = true;
  let restarts = 0;
  let delayMs = 1000;
  let restartTimer: ReturnType<typeof setTimeout> | undefined;

  /** Starts it again after the current delay (once, however many reasons come). */
  function scheduleRestart(reason: string): void {
    if (stopped || !options.supervise || restartTimer !== undefined) return;
    options.log(`[supervisor] ${name} ${reason}; starting it again in ${delayMs / 1000} s`);
    restartTimer = setTimeout(async () => {
      restartTimer = undefined;
      if (stopped) return;
      restarts++;
      try {
        await self.start();
      } catch (err) {
        scheduleRestart(`did not start (${(err as Error).message.split("\n")[0]})`);
      }
    }, delayMs);
    delayMs = Math.min(RESTART_MAX_MS, delayMs * 2);
  }

  function onExit(c: Child, status: Deno.CommandStatus, startedAt: number): void {
    if (child !== c) return;
    running = false;
    if (Date.now() - startedAt > STABLE_MS) delayMs = 1000;
    scheduleRestart(`exited (${status.signal ? `signal ${status.signal}` : `code ${status.code}`})`);
  }

  const self: ManagedProcess = {
    name,
    get running() {
      return running;
    },
    get restarts() {
      return restarts;
    },
    get pid() {
      return running ? child?.proc.pid : undefined;
    },
    async start() {
      if (running) return;
      stopped = false;
      const startedAt = Date.now();
      const c = spawn(command.cmd, command.args, command.env, (line) => {
        out.push(line);
        options.log(`[${name}] ${line}`);
      });
      child = c;
      running = true;
      if (options.pidDir) recordPid(options.pidDir, name, c.proc.pid);
      c.exited.then((status) => onExit(c, status, startedAt));
      try {
        await waitFor(name, ready, 60_000, () => running);
      } catch (err) {
        if (running) {
          c.proc.kill("SIGKILL");
          await c.exited;
        }
        throw new Error(`${(err as Error).message}\n${out.text()}`);
      }
    },
    async kill(signal: Deno.Signal = "SIGTERM") {
      stopped = true;
      clearTimeout(restartTimer);
      const c = child;
      if (!c || !running) return;
      try {
        c.proc.kill("SIGCONT"); // a paused process would not act on the signal
        c.proc.kill(signal);
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          c.proc.kill("SIGKILL");
        } catch { /* gone */ }
      }, 20_000);
      await c.exited;
      clearTimeout(timer);
      running = false;
      if (options.pidDir) forgetPid(options.pidDir, name);
    },
    signal(signal) {
      if (running) child?.proc.kill(signal);
    },
    output: () => out.text(),
  };
  return self;
}

const pidFile = (dir: string, name: string) => `${dir}/${name}.pid`;

/** Removes the record of a process stopped for good (already gone: fine). */
function forgetPid(dir: string, name: string): void {
  try {
    Deno.removeSync(pidFile(dir, name));
  } catch {
    // removed by a concurrent kill(), or by stopOrphans
  }
}

/**
 * This boot of the machine: a process's start time counts from the boot, so after a reboot another
 * process may have the same pid and start time as one recorded before it.
 */
export function bootId(): string {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  } catch {
    return "";
  }
}

/**
 * Records `pid` with its start time and the boot (a pid alone may be another process's by the time
 * it is read).
 */
function recordPid(dir: string, name: string, pid: number): void {
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(pidFile(dir, name), `${pid} ${procStat(pid)?.started ?? ""} ${bootId()}\n`);
}

/**
 * Stops the processes recorded in `pidDir` that still run (same pid, start time and boot): what a
 * runner killed with SIGKILL left behind. Two nats-servers on one store directory corrupted it.
 * SIGTERM (after a SIGCONT: a paused one would not act on it), then SIGKILL after `graceMs`.
 */
export async function stopOrphans(
  pidDir: string,
  log: (line: string) => void,
  graceMs = 20_000,
): Promise<number> {
  let stopped = 0;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(pidDir)];
  } catch {
    return 0; // no earlier run
  }
  const orphans: Array<{ name: string; pid: number; started: string }> = [];
  const thisBoot = bootId();
  for (const entry of entries) {
    if (!entry.name.endsWith(".pid")) continue;
    const [pid, started, boot] = Deno.readTextFileSync(`${pidDir}/${entry.name}`).trim().split(" ");
    const now = procStat(Number(pid));
    // Records written before the boot id was kept have none: pid and start time decide then.
    if (now !== null && started && now.started === started && (boot === undefined || boot === thisBoot)) {
      orphans.push({ name: entry.name.slice(0, -4), pid: Number(pid), started });
    }
    Deno.removeSync(`${pidDir}/${entry.name}`);
  }
  // The balancer and the instances first (they drain into NATS), the NATS nodes after them.
  const nats = (o: { name: string }) => o.name.startsWith("nats-");
  for (const group of [orphans.filter((o) => !nats(o)), orphans.filter(nats)]) {
    for (const { name, pid } of group) {
      log(
        `[supervisor] ${name} (pid ${pid}) is still running from an earlier run of this directory: stopping it`,
      );
      signal(pid, "SIGCONT");
      signal(pid, "SIGTERM");
    }
    const deadline = Date.now() + graceMs;
    for (const { name, pid, started } of group) {
      while (procStat(pid)?.started === started && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      if (procStat(pid)?.started === started) {
        log(`[supervisor] ${name} (pid ${pid}) did not stop within ${graceMs / 1000} s: killing it`);
        signal(pid, "SIGKILL");
      }
      stopped++;
    }
  }
  return stopped;
}

/** A process's parent pid and start time (field 22 of /proc/<pid>/stat), or null when it is gone. */
export function procStat(pid: number): { ppid: number; started: string; comm: string } | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const comm = Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    return { ppid: Number(fields[1]), started: fields[19]!, comm };
  } catch {
    return null;
  }
}

/**
 * The launchers above this process (`deno task`, the `sh -c` npm runs it with, `npm exec`/`npx`,
 * node): when one of them goes (killed, or its terminal closed), the runner stops what it started
 * instead of living on as an orphan with a cluster nobody can stop. The first ancestor that is not a launcher (the
 * user's shell, systemd) is not watched.
 */
export function launchers(): Array<{ pid: number; started: string }> {
  const out: Array<{ pid: number; started: string }> = [];
  for (let pid = Deno.ppid; pid > 1;) {
    const s = procStat(pid);
    if (s === null || !/^(deno|node|npm|npx|sh$|dash$)/.test(s.comm)) break;
    out.push({ pid, started: s.started });
    pid = s.ppid;
  }
  return out;
}

/** Pids whose parent is `pid` (Postgres backends under their postmaster). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (/^\d+$/.test(entry.name) && procStat(Number(entry.name))?.ppid === pid) out.push(Number(entry.name));
  }
  return out;
}
