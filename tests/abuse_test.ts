/**
 * Attacks that must not stop the process or cost more than a stated bound (README, "Limits
 * under abuse"). Each one is bounded in time and runs on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { ADMIN, basic, createUser, freePort } from "./support/harness.ts";
import { startTestService } from "./support/service.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** main.ts as a child as `deno task start` runs it, under `ulimit -n <fds>`; resolves once it listens. */
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
      `ulimit -n ${fds} && MALLOC_ARENA_MAX=2 exec "$0" run -A --v8-flags=--heap-growing-percent=50 "$1" --config "$2"`,
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
      console.log(
        `abuse: idle and half-sent connections under ulimit -n 256: ${refused} connects refused while out of ` +
          `descriptors, process alive, listener restarted ${restarts}×, /healthz 200 once they closed; peak RSS ${await mib(
            svc.pid,
          )}`,
      );
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

/** Resident memory of a process now, from /proc (VmRSS), in bytes. */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
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

async function mib(pid: number): Promise<string> {
  return `${((await peakRss(pid)) / 2 ** 20).toFixed(0)} MiB`;
}

async function session(base: string, user: string, password: string): Promise<Response> {
  return await fetch(`${base}/session`, {
    method: "POST",
    headers: { authorization: basic(user, password) },
  });
}

Deno.test({
  name:
    "399 parallel wrong passwords then the right one over HTTP: 10 checked, the rest 429; neighbours and admins unaffected",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    try {
      await createUser(svc.base, "victim", "victim-password");
      await createUser(svc.base, "neighbour", "neighbour-password");
      const statuses = await Promise.all(
        Array.from(
          { length: 399 },
          (_, i) =>
            session(svc.base, "victim", `guess-${i}`).then(async (r) => (await r.body?.cancel(), r.status)),
        ),
      );
      const right = await session(svc.base, "victim", "victim-password");
      await right.body?.cancel();
      const count = (s: number) => statuses.filter((x) => x === s).length;
      assert.equal(count(401), 10);
      assert.equal(count(429), 389);
      assert.equal(right.status, 429);
      const neighbour = await session(svc.base, "neighbour", "neighbour-password");
      await neighbour.body?.cancel();
      assert.equal(neighbour.status, 200);
      const admin = await fetch(`${svc.base}/user`, {
        headers: { authorization: basic(ADMIN.name, ADMIN.password) },
      });
      await admin.body?.cancel();
      assert.equal(admin.status, 200);
      console.log(
        `abuse: login race: 399 parallel guesses → ${count(401)} × 401, ${
          count(429)
        } × 429; right password 429; neighbour 200, admin 200; peak RSS ${await mib(svc.pid)}`,
      );
    } finally {
      await svc.stop();
    }
  },
});

Deno.test({
  name: "16 msgpack bodies nested a million deep: 422 each, /healthz keeps answering, memory unmoved",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    try {
      await createUser(svc.base, "deep", "deep-password");
      const token = (await (await session(svc.base, "deep", "deep-password")).json()).token;
      // 16 bodies of 1,000,000 bytes: together exactly one user's default budget of bodies being
      // read (16,000,000); a byte more and the last to arrive is a 503 "overloaded", not this test.
      const levels = 999_999;
      const body = new Uint8Array(levels + 1).fill(0x91);
      body[levels] = 0x01;
      const before = await peakRss(svc.pid);
      let slowest = 0;
      const health = (async () => {
        for (let i = 0; i < 20; i++) {
          const t = performance.now();
          const r = await fetch(`${svc.base}/healthz`);
          await r.body?.cancel();
          slowest = Math.max(slowest, performance.now() - t);
        }
      })();
      const statuses = await Promise.all(Array.from({ length: 16 }, () =>
        fetch(`${svc.base}/data`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/msgpack" },
          body,
        }).then(async (r) => ({ status: r.status, error: (await r.json()).error }))));
      await health;
      assert.ok(
        statuses.every((s) => s.status === 422 && s.error === "too_deep"),
        JSON.stringify(statuses),
      );
      const grew = (await peakRss(svc.pid)) - before;
      assert.ok(grew < 100 * 2 ** 20, `peak RSS grew ${(grew / 2 ** 20).toFixed(0)} MiB`);
      console.log(
        `abuse: 16 × 1M-deep msgpack: 16 × 422 too_deep, slowest /healthz meanwhile ${
          slowest.toFixed(0)
        } ms, peak RSS +${(grew / 2 ** 20).toFixed(0)} MiB`,
      );
    } finally {
      await svc.stop();
    }
  },
});

Deno.test({
  name:
    "a logged-in ethstats node's 7.8 MB frames of zeros (block transactions, uncles, a history nobody asked for): refused or cut, memory and the loop unmoved",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    let ws: WebSocket | undefined;
    try {
      await createUser(svc.base, "zeros", "zeros-password");
      const socket = ws = new WebSocket(`${svc.base.replace("http", "ws")}/api`);
      const frames: string[] = [];
      socket.onmessage = (e) => frames.push(String(e.data));
      await new Promise((resolve, reject) => {
        socket.onopen = resolve;
        socket.onerror = reject;
      });
      const until = async (what: string, ok: () => boolean) => {
        const deadline = Date.now() + 120_000;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`no ${what}: ${frames.join(" ").slice(0, 500)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      socket.send(
        JSON.stringify({
          emit: ["hello", { id: "zeros", info: { name: "zeros" }, secret: "zeros:zeros-password" }],
        }),
      );
      await until("ready", () => frames.includes('{"emit":["ready"]}'));
      const zeros = new Array(3_900_000).fill(0).join(",");
      const before = await peakRss(svc.pid);
      const t = performance.now();
      socket.send(`{"emit":["block",{"block":{"number":1,"hash":"0x1","transactions":[${zeros}]}}]}`);
      socket.send(`{"emit":["block",{"block":{"number":1,"hash":"0x1","uncles":[${zeros}]}}]}`);
      socket.send(`{"emit":["history",{"history":[${zeros}]}]}`);
      socket.send('{"emit":["node-ping",{"clientTime":"after the zeros"}]}');
      await until("pong", () => frames.some((f) => f.includes("after the zeros")));
      const handled = performance.now() - t;
      const grew = (await peakRss(svc.pid)) - before;
      const metrics = await (await fetch(`${svc.base}/metrics`)).text();
      const stat = (name: string) =>
        Number(metrics.match(new RegExp(`^poa_ethstats_total\\{stat="${name}"\\} (\\d+)`, "m"))?.[1]);
      // Before: zod made an issue per zero (49 s and 4.6 GB for the first frame alone), and each of a
      // history's millions of entries was parsed as a block (6 s).
      assert.ok(grew < 400 * 2 ** 20, `peak RSS grew ${(grew / 2 ** 20).toFixed(0)} MiB`);
      assert.equal(
        stat("malformed"),
        2,
        metrics.split("\n").filter((l) => l.includes("ethstats")).join("\n"),
      );
      assert.equal(stat("history_entries_skipped"), 3_900_000);
      console.log(
        `abuse: 3 × 7.8 MB ethstats frames of zeros: 2 malformed, 3,900,000 history entries skipped, pong after ${
          handled.toFixed(0)
        } ms, peak RSS +${(grew / 2 ** 20).toFixed(0)} MiB`,
      );
    } finally {
      ws?.close();
      await svc.stop();
    }
  },
});

Deno.test({
  name: "tokens never revive and NUL ids never reach Postgres (process level)",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    try {
      await createUser(svc.base, "phoenix", "first-password");
      const token = (await (await session(svc.base, "phoenix", "first-password")).json()).token;
      const ping = (id = "n1") =>
        fetch(`${svc.base}/ping`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ id }),
        }).then(async (r) => (await r.body?.cancel(), r.status));
      assert.equal(await ping(), 200);
      assert.equal(await ping("a\u0000b"), 422);
      const del = await fetch(`${svc.base}/user/phoenix`, {
        method: "DELETE",
        headers: { authorization: basic(ADMIN.name, ADMIN.password) },
      });
      await del.body?.cancel();
      await createUser(svc.base, "phoenix", "second-password");
      assert.equal(await ping(), 401);
      console.log(
        `abuse: token of a deleted and re-created user → 401; NUL id → 422; peak RSS ${await mib(svc.pid)}`,
      );
    } finally {
      await svc.stop();
    }
  },
});

Deno.test({
  name:
    "800 new agent ids each sending a 1 MB block: memory stays flat (byte budgets, nothing kept after delivery)",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096, {
      receivers: [
        { id: "dashboard", type: "dashboard", subscribe: ["ethereum_metrics", "networking_metrics"] },
        {
          id: "web",
          type: "web",
          subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
          persistBlocks: false, // memory is measured here, not Postgres
        },
      ],
    });
    try {
      await createUser(svc.base, "pump", "pump-password");
      const token = (await (await session(svc.base, "pump", "pump-password")).json()).token;
      const transactions = Array.from({ length: 14_000 }, (_, i) => "0x" + String(i).padStart(64, "0"));
      const pump = async (from: number) => {
        for (let round = 0; round < 40; round++) {
          await Promise.all(Array.from({ length: 10 }, async (_, k) => {
            const i = from + round * 10 + k;
            const body = JSON.stringify({
              id: `agent-${i}`,
              type: "ethereum_metrics",
              data: {
                type: "block",
                body: { number: i, hash: `0x${i.toString(16).padStart(64, "0")}`, transactions },
              },
            });
            const res = await fetch(`${svc.base}/data`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
              body,
            });
            await res.body?.cancel();
            assert.equal(res.status, 200);
          }));
        }
        await new Promise((r) => setTimeout(r, 1000)); // the queues drain
        return await rss(svc.pid);
      };
      const first = await pump(0);
      const second = await pump(400);
      const health = await fetch(`${svc.base}/healthz`);
      await health.body?.cancel();
      assert.equal(health.status, 200);
      const metrics = await fetch(`${svc.base}/metrics`).then((r) => r.text());
      const replay = /stat="replay_bytes"[^}]*\} (\d+)/.exec(metrics)?.[1];
      const heap = (kind: string) =>
        Number(new RegExp(`poa_js_heap_bytes\\{kind="${kind}"\\} (\\d+)`).exec(metrics)?.[1]);
      const m = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;
      console.log(
        `abuse: 800 new ids × 1 MB blocks: resident ${m(first)} → ${m(second)}, ` +
          `peak ${await mib(svc.pid)}, heap used ${m(heap("used"))}, external ${m(heap("external"))}; ` +
          `dashboard replay ${replay ?? "?"} bytes`,
      );
      // Before: +520 MiB resident with the second 400 ids and 1 GB of heap in use (delivered
      // reports stayed reachable in the receivers' queues, and the replay kept every block).
      assert.ok(
        second - first < 64 * 2 ** 20,
        `resident memory grew ${m(second - first)} with the second 400 ids`,
      );
      assert.ok(heap("used") < 200 * 2 ** 20, `heap used ${m(heap("used"))}`);
    } finally {
      await svc.stop();
    }
  },
});

Deno.test({
  name:
    "an agent's bodies: 300 declaring 7.9 MB and sending 60 bytes (503 beyond its bytes in flight), two equal Content-Length headers, 20,000 one-byte chunks: memory bounded, others served",
  sanitizeResources: false,
  async fn() {
    const svc = await startService(4096);
    const conns: Deno.Conn[] = [];
    try {
      await createUser(svc.base, "greedy", "greedy-password");
      await createUser(svc.base, "other", "other-password");
      const token = async (user: string) =>
        (await (await session(svc.base, user, `${user}-password`)).json()).token;
      const [greedy, other] = [await token("greedy"), await token("other")];
      const before = await peakRss(svc.pid);
      const head = new TextEncoder().encode(
        `POST /data HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${greedy}\r\n` +
          `Content-Type: application/json\r\nContent-Length: 7999000\r\n\r\n{"id":"g","type":"ethereum_metrics","data":{"type":"x","b":"`,
      );
      const answers: Promise<string>[] = [];
      for (let i = 0; i < 300; i++) {
        const c = await Deno.connect({ hostname: "127.0.0.1", port: svc.port });
        conns.push(c);
        await c.write(head);
        answers.push((async () => {
          const buf = new Uint8Array(4096);
          const n = await Promise.race([
            c.read(buf),
            new Promise<null>((r) => setTimeout(() => r(null), 3000)),
          ]);
          return n ? new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0]! : "no answer";
        })());
      }
      const results = await Promise.all(answers);
      const refused = results.filter((r) => r.includes(" 503 ")).length;
      // Before: every one of them was read, 8-16 MB reserved each (300 took 1.7 -> 5.5 GB).
      assert.equal(refused, 298, JSON.stringify(results.slice(0, 3)));
      assert.equal(results.filter((r) => r === "no answer").length, 2); // the two within its 16 MB
      const grew = (await peakRss(svc.pid)) - before;
      assert.ok(grew < 512 * 2 ** 20, `peak RSS grew by ${(grew / 2 ** 20).toFixed(0)} MiB`);
      const res = await fetch(`${svc.base}/data`, {
        method: "POST",
        headers: { authorization: `Bearer ${other}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "o", type: "ethereum_metrics", data: { type: "pending", body: {} } }),
      });
      assert.equal(res.status, 200, await res.text());
      for (const c of conns.splice(0)) c.close();
      // The two half-sent bodies give their bytes back when their connections go.
      const metrics = async () =>
        await (await fetch(`${svc.base}/metrics`, {
          headers: { authorization: basic(ADMIN.name, ADMIN.password) },
        }))
          .text();
      const deadline = Date.now() + 5000;
      let text = await metrics();
      while (!/poa_request_body_bytes\{stat="in_flight"\} 0\b/.test(text) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        text = await metrics();
      }
      assert.match(text, /poa_request_body_bytes\{stat="in_flight"\} 0\b/);
      assert.match(text, /poa_request_bodies_refused_total 298\b/);
      assert.match(text, /^poa_stray_network_errors_total 0$/m); // main.ts guards the process (core/stray_errors.ts)
      // Two equal Content-Length headers (hyper takes them, the header reads "5100, 5100"): before,
      // a NaN reservation that switched the bound off for good.
      const twice = await Deno.connect({ hostname: "127.0.0.1", port: svc.port });
      conns.push(twice);
      const body = JSON.stringify({ id: "twice", pad: "x".repeat(5000) });
      await twice.write(new TextEncoder().encode(
        `POST /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${other}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
      ));
      const answer = new Uint8Array(4096);
      const n = await twice.read(answer);
      assert.match(new TextDecoder().decode(answer.subarray(0, n ?? 0)), /^HTTP\/1\.1 (200|400)/);
      assert.match(await metrics(), /poa_request_body_bytes\{stat="in_flight"\} 0\b/);
      // A chunked body of 20,000 one-byte chunks (120 KB on the wire): each chunk came as a view on
      // a 64 KiB buffer of Deno's, and keeping them kept 1.3 GB.
      const chunky = await Deno.connect({ hostname: "127.0.0.1", port: svc.port });
      conns.push(chunky);
      const before2 = await peakRss(svc.pid);
      const chunks = `{"id":"chunky","pad":"${"x".repeat(20_000)}"}`.split("").map((ch) => `1\r\n${ch}\r\n`)
        .join("");
      await chunky.write(new TextEncoder().encode(
        `POST /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${other}\r\nContent-Type: application/json\r\n` +
          `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
      ));
      const chunkyAnswer = new Uint8Array(4096);
      const m = await chunky.read(chunkyAnswer);
      assert.match(new TextDecoder().decode(chunkyAnswer.subarray(0, m ?? 0)), /^HTTP\/1\.1 200/);
      const grewChunky = (await peakRss(svc.pid)) - before2;
      // Deno hands each chunk over in a fresh 64 KiB buffer (1.3 GB for these 20,000): copied out at
      // once, what is left is garbage, and its peak is the collector's timing (101-266 MiB over six
      // runs; a BYOB reader, which would avoid it, stalled at 16 KiB on Deno 2.9.6). Kept, it was 1.3 GB.
      assert.ok(grewChunky < 640 * 2 ** 20, `peak RSS grew by ${(grewChunky / 2 ** 20).toFixed(0)} MiB`);
      console.log(
        `abuse: 300 half-sent 7.9 MB bodies of one agent: 298 refused with 503, peak RSS +${
          (grew / 2 ** 20).toFixed(0)
        } MiB`,
      );
    } finally {
      for (const c of conns) c.close();
      await svc.stop();
    }
  },
});
