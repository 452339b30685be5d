/**
 * Attacks that must not stop the process or cost more than a stated bound (README, "Limits
 * under abuse"). Each one is bounded in time and runs on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { ADMIN, basic } from "./support/harness.ts";
import { startTestService } from "./support/service.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** main.ts as a child under `ulimit -n <fds>`; resolves once it listens. */
async function startService(fds: number, config: Record<string, unknown> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "poa-abuse-" });
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/config.json`,
    JSON.stringify({
      listen: [{ hostname: "127.0.0.1", port }],
      admins: [ADMIN],
      kv: { path: `${dir}/poa.kv` },
      dataDir: dir,
      receivers: [{ id: "archive", type: "jsonl", subscribe: ["ethereum_metrics"], path: `${dir}/a.jsonl` }],
      ...config,
    }),
  );
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n ${fds} && exec "$0" run -A "$1" --config "$2"`,
      Deno.execPath(),
      MAIN,
      `${dir}/config.json`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out: string[] = [];
  const reader = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out.push(chunk);
  })();
  const errText = new Response(child.stderr).text();
  const deadline = Date.now() + 20_000;
  while (!out.join("").includes("listening on")) {
    if (Date.now() > deadline) throw new Error("service did not start: " + out.join(""));
    await new Promise((r) => setTimeout(r, 50));
  }
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    port,
    pid: child.pid,
    output: () => out.join(""),
    async stop(): Promise<{ code: number; stderr: string }> {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const status = await child.status;
      await reader;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      return { code: status.code, stderr: await errText };
    },
    status: child.status,
  };
}

Deno.test({
  name: "idle connections exhaust the file descriptors: the process lives on and accepts again once they go",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(256);
    let exited = false;
    svc.status.then(() => exited = true);
    const conns: Deno.Conn[] = [];
    try {
      let refused = 0;
      for (let i = 0; i < 600 && refused < 20; i++) {
        try {
          const c = await Deno.connect({ hostname: "127.0.0.1", port: svc.port });
          // half of them send half a header and stop
          if (i % 2 === 0) {
            await c.write(new TextEncoder().encode("POST /ping HTTP/1.1\r\nHost: x\r\nContent-Le"));
          }
          conns.push(c);
        } catch {
          refused++;
        }
      }
      assert.ok(refused > 0 || conns.length >= 256, "the descriptors ran out");
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(exited, false, "the process survived the accept failure");
      for (const c of conns.splice(0)) c.close();
      // Accepting again within a few seconds.
      let health = 0;
      const deadline = Date.now() + 10_000;
      while (health !== 200 && Date.now() < deadline) {
        health = await fetch(`${svc.base}/healthz`).then(async (r) => {
          await r.body?.cancel();
          return r.status;
        }, () => 0);
        if (health !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(health, 200);
      const metrics = await fetch(`${svc.base}/metrics`, {
        headers: { authorization: basic(ADMIN.name, ADMIN.password) },
      })
        .then((r) => r.text());
      const restarts = Number(/poa_listener_restarts_total (\d+)/.exec(metrics)?.[1] ?? "NaN");
      assert.ok(restarts >= 1, metrics.slice(0, 200));
    } finally {
      for (const c of conns) c.close();
      const { code } = await svc.stop();
      assert.equal(code, 0);
    }
  },
});

Deno.test("the data dir cannot be listed by others and the KV file (password hashes, JWT secret) is 0600", async () => {
  const parent = await Deno.makeTempDir({ prefix: "poa-modes-" });
  const dir = `${parent}/data`;
  const t = await startTestService({ dataDir: dir, kv: { path: `${dir}/poa.kv` } }, {}, dir);
  try {
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o711);
    for (const name of ["poa.kv", "poa.kv-wal", "poa.kv-shm"]) {
      const stat = await Deno.stat(`${dir}/${name}`).catch(() => null);
      if (stat) assert.equal(stat.mode! & 0o077, 0, `${name} is ${(stat.mode! & 0o777).toString(8)}`);
    }
  } finally {
    await t.close();
    await Deno.remove(parent, { recursive: true }).catch(() => {});
  }
});

/** Peak resident memory of a process, from /proc (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

Deno.test({
  name:
    "50 sockets that never log in each send a 60 MB frame: 8 are let in, the rest refused; peak RSS stays bounded",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    try {
      const before = await peakRss(svc.pid);
      const frame = "x".repeat(60 * 1024 * 1024);
      const results = await Promise.all(Array.from({ length: 50 }, () =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(`ws://127.0.0.1:${svc.port}/api`);
          const timer = setTimeout(() => resolve("timeout"), 20_000);
          ws.onopen = () => {
            try {
              ws.send(frame);
            } catch {
              // closed meanwhile
            }
          };
          ws.onerror = () => {};
          ws.onclose = (e) => {
            clearTimeout(timer);
            resolve(e.code === 1009 ? "too big" : `closed ${e.code}`);
          };
        })));
      const tooBig = results.filter((r) => r === "too big").length;
      assert.ok(tooBig <= 8, JSON.stringify(results));
      assert.ok(!results.includes("timeout"));
      const grew = (await peakRss(svc.pid)) - before;
      console.log(
        `abuse: 60 MB frames: ${
          JSON.stringify(
            results.reduce((m, r) => ({ ...m, [r]: (m[r] ?? 0) + 1 }), {} as Record<string, number>),
          )
        }, peak RSS +${(grew / 2 ** 20).toFixed(0)} MiB`,
      );
      // 8 sockets × one 60 MB message buffered by Deno (and its text copy) at most
      assert.ok(grew < 8 * 3 * 64 * 1024 * 1024, `peak RSS grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
      const health = await fetch(`${svc.base}/healthz`);
      assert.equal(health.status, 200);
      await health.body?.cancel();
    } finally {
      await svc.stop();
    }
  },
});
