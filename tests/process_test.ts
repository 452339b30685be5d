/** main.ts as a process: config errors, and SIGTERM with messages in flight. */
import assert from "node:assert/strict";
import { openSpillStore } from "../core/spill.ts";
import { eventually } from "./support/agent.ts";
import { numberedItem } from "./support/fixtures.ts";
import { ADMIN, basic, freePort } from "./support/harness.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("an invalid config file stops start-up with a message naming the key", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, JSON.stringify({ listen: [{ port: "eighty" }] }));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--config", path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2);
    assert.match(new TextDecoder().decode(out.stderr), /listen\.0\.port/);
    // Any other argument too (before: `--port 5000` was ignored and the service took 0.0.0.0:4000).
    const other = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "--port", "5000"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(other.code, 2);
    assert.match(new TextDecoder().decode(other.stderr), /unknown argument "--port"/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("start-up errors are one line naming what to fix, exit code 2: a port in use, an unknown receiver type or a bad receiver option (nothing written), a missing certificate, users left in the old KV path, an embedded Postgres its OS user cannot reach", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-startup-" });
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (busy.addr as Deno.NetAddr).port;
    const base = { admins: [ADMIN], kv: { path: `${dir}/poa.kv` }, dataDir: dir };
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { ...base, listen: [{ hostname: "127.0.0.1", port }], receivers: [] },
        new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use$`),
      ],
      [
        {
          ...base,
          listen: [{ hostname: "127.0.0.1", port: freePort() }],
          receivers: [{ id: "x", type: "jsnol", subscribe: ["ethereum_metrics"] }],
        },
        /^invalid config: receivers\.0\.type: unknown receiver type "jsnol" \(known: .*jsonl.*\)$/,
      ],
      [
        // A receiver's bad option is found before the data dir is touched (checked below).
        {
          dataDir: `${dir}/fresh`,
          kv: { path: `${dir}/fresh/poa.kv` },
          listen: [{ hostname: "127.0.0.1", port: freePort() }],
          receivers: [{
            id: "hooks",
            type: "alerts",
            subscribe: ["ethereum_metrics"],
            url: "ftp://example.org/",
          }],
        },
        /^invalid config: receivers\.0\.url: must be an http:\/\/ or https:\/\/ URL$/,
      ],
      [
        // The certificate is read before anything listens or starts (relative to the working directory).
        {
          ...base,
          listen: [
            { hostname: "127.0.0.1", port: freePort() },
            { hostname: "127.0.0.1", port: freePort(), tls: { certFile: "cert.pem", keyFile: "key.pem" } },
          ],
          receivers: [],
        },
        new RegExp(`^listen\\.1\\.tls\\.certFile: cannot read ${dir}/cert\\.pem: No such file`),
      ],
      [
        // Run from `dir`, whose data/poa.kv holds the users: the KV file now follows dataDir.
        { admins: [ADMIN], dataDir: `${dir}/state`, listen: [{ hostname: "127.0.0.1", port: freePort() }] },
        /^kv\.path: the users, bans and JWT secret are in data\/poa\.kv .*move it to .*\/state\/poa\.kv/,
      ],
    ];
    if (Deno.uid() === 0) {
      // As root the embedded server runs as OS user postgres, which cannot enter `dir` (0700): before,
      // the service ran on, never ready, each receiver's retry printing a stack trace.
      cases.push([
        {
          ...base,
          dataDir: `${dir}/unreachable`,
          kv: { path: `${dir}/unreachable/poa.kv` },
          listen: [{ hostname: "127.0.0.1", port: freePort() }],
          receivers: [{ id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"] }],
        },
        /^embedded Postgres: the service runs as root, so the server runs as OS user "postgres", which cannot enter /,
      ]);
    }
    await Deno.mkdir(`${dir}/data`);
    await Deno.writeTextFile(`${dir}/data/poa.kv`, "");
    for (const [config, expected] of cases) {
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", MAIN, "--config", `${dir}/config.json`],
        cwd: dir,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(out.stderr).trim().split("\n").filter((l) =>
        !l.startsWith("warning:")
      );
      assert.equal(out.code, 2, stderr.join("\n"));
      assert.equal(stderr.length, 1, stderr.join("\n"));
      assert.match(stderr[0]!, expected);
    }
    // Before: admin-password, poa.kv and service.lock were written into it before the receiver was refused.
    await assert.rejects(Deno.stat(`${dir}/fresh`), Deno.errors.NotFound);
  } finally {
    busy.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`deno task migrate` before the first start, as root from a directory user postgres cannot enter: the start then serves", async () => {
  // Before, migrate made `<dataDir>/postgres` and no KV file, and every start refused that data dir
  // as one whose users an earlier version kept in data/poa.kv ("move data/poa.kv to data/poa.kv").
  // Run from a 0700 directory (/root, where root clones the project): as root the embedded server
  // runs as OS user postgres, whose spawns inherited that working directory and failed with a bare
  // "Permission denied", whatever the data dir.
  const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-migrate-first-" });
  const cwd = `${dir}/private`;
  const port = freePort();
  try {
    await Deno.chmod(dir, 0o711);
    await Deno.mkdir(cwd, { mode: 0o700 });
    await Deno.writeTextFile(
      `${cwd}/config.json`,
      JSON.stringify({ listen: [{ hostname: "127.0.0.1", port }], admins: [ADMIN], dataDir: `${dir}/data` }),
    );
    const run = (script: string) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(script, import.meta.url).pathname, "--config", `${cwd}/config.json`],
        cwd,
        stdout: "piped",
        stderr: "piped",
      });
    const migrated = await run("../tasks/migrate.ts").output();
    const said = new TextDecoder().decode(migrated.stdout) + new TextDecoder().decode(migrated.stderr);
    assert.equal(migrated.code, 0, said);
    assert.match(said, /applied 0001_stats/);
    const child = run("../main.ts").spawn();
    const output = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
    let exited: number | undefined;
    child.status.then((status) => exited = status.code);
    const outcome = await eventually(
      () =>
        exited !== undefined
          ? `exited ${exited}`
          : fetch(`http://127.0.0.1:${port}/healthz`).then(async (r) => {
            await r.body?.cancel();
            return r.ok ? "ready" : undefined;
          }, () => undefined),
      30_000,
      "the service to be ready",
    ).catch((err) => String(err));
    if (exited === undefined) child.kill("SIGTERM");
    const code = (await child.status).code;
    assert.equal(outcome, "ready", (await output).join(""));
    assert.equal(code, 0, (await output).join(""));
    // Where to reach it with psql: the port picked at this start, and the password's file.
    const started = (await output)[0].match(
      /postgres: embedded server started on 127\.0\.0\.1:(\d+) \(user postgres, password in (\S+)\)/,
    );
    assert.ok(started, (await output).join(""));
    assert.equal(started[2], `${dir}/data/postgres/password`);
    assert.ok((await Deno.readTextFile(started[2])).trim().length > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A process's config on 127.0.0.1:`port` with its state in `dir` (test admin, KV there). */
function processConfig(
  dir: string,
  port: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    listen: [{ hostname: "127.0.0.1", port }],
    admins: [ADMIN],
    kv: { path: `${dir}/poa.kv` },
    dataDir: dir,
    ...extra,
  };
}

/** A jsonl receiver `id` of ethereum metrics writing `<dir>/<id>.jsonl`. */
function archiveReceiver(dir: string, id = "archive") {
  return { id, type: "jsonl", subscribe: ["ethereum_metrics"], path: `${dir}/${id}.jsonl` };
}

/** main.ts running as a process on `config` (written to `dir`), once it listens. */
interface MainProcess {
  child: Deno.ChildProcess;
  base: string;
  /** Its standard output so far. */
  log(): string;
  stderr: Promise<string>;
  /** Kills it if it still runs and waits for it and its output. */
  stop(): Promise<void>;
}

async function startMain(
  dir: string,
  config: Record<string, unknown>,
  port: number,
  how: "run" | "task" = "run",
): Promise<MainProcess> {
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  const child = new Deno.Command(Deno.execPath(), {
    // `task`: as the README starts it (`deno task start`, the service a child of the task runner).
    args: how === "run"
      ? ["run", "-A", MAIN, "--config", `${dir}/config.json`]
      : ["task", "start", "--config", `${dir}/config.json`],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) log += text;
  })();
  const main: MainProcess = {
    child,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    stderr: new Response(child.stderr).text(),
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await child.status;
      await reading.catch(() => {});
      await main.stderr.catch(() => {});
    },
  };
  const deadline = Date.now() + 20_000;
  while (!log.includes("listening on")) {
    if (Date.now() >= deadline) {
      await main.stop();
      assert.fail("service did not start: " + log);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return main;
}

/** Creates an agent user through the admin API and returns a session token for it. */
async function agentToken(base: string): Promise<string> {
  const created = await fetch(`${base}/user`, {
    method: "POST",
    headers: { authorization: basic(ADMIN.name, ADMIN.password), "content-type": "application/json" },
    body: JSON.stringify({ "user-name": "agent", password: "agent-password" }),
  });
  assert.equal(created.status, 200);
  await created.body?.cancel();
  const { token } = await (await fetch(`${base}/session`, {
    method: "POST",
    headers: { authorization: basic("agent", "agent-password") },
  })).json();
  return token;
}

Deno.test("SIGTERM with messages in flight: exit 0 and the receiver got every accepted message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-sigterm-" });
  const port = freePort();
  const main = await startMain(dir, processConfig(dir, port, { receivers: [archiveReceiver(dir)] }), port);
  const { child, base } = main;
  try {
    const token = await agentToken(base);
    const accepted: string[] = [];
    let killed = false;
    // Eight agents keep sending; SIGTERM arrives while requests are in flight.
    await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
      for (let i = 0; i < 1000; i++) {
        const id = `w${worker}-${i}`;
        let res: Response;
        try {
          res = await fetch(`${base}/data`, {
            method: "POST",
            headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
            body: JSON.stringify({
              id,
              type: "ethereum_metrics",
              data: { type: "pending", body: { pending: i } },
            }),
          });
        } catch {
          return; // the listener is gone
        }
        await res.body?.cancel();
        if (res.status !== 200) return;
        accepted.push(id);
        if (!killed && accepted.length >= 1000) {
          killed = true;
          child.kill("SIGTERM");
        }
      }
    }));
    assert.ok(killed);
    const status = await child.status;
    assert.equal(status.code, 0, await main.stderr);
    const lines = (await Deno.readTextFile(`${dir}/archive.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l).agentId
    );
    assert.ok(accepted.length >= 1000);
    assert.deepEqual(new Set(lines), new Set(accepted));
    assert.equal(lines.length, accepted.length);
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a start names the spill directory of a receiver no longer configured, with its reports", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-orphan-spill-" });
  const port = freePort();
  const archive = (id: string) => processConfig(dir, port, { receivers: [archiveReceiver(dir, id)] });
  try {
    // Accepted reports left in the spill of "archive" (as a shutdown during an outage leaves them).
    const store = await openSpillStore(`${dir}/spill/archive`);
    await store.append([1, 2, 3].map((n) => numberedItem(n)));
    // And undelivered alerts of an alerts receiver no longer configured.
    await (await openSpillStore(`${dir}/alerts/pager`)).append([numberedItem(4)]);
    // Before: a start without that receiver said nothing, and the reports stayed there unseen.
    const renamed = await startMain(dir, archive("archive-2"), port);
    await renamed.stop();
    assert.match(
      renamed.log(),
      new RegExp(`warning: ${dir}/spill/archive holds 3 accepted report`),
    );
    assert.match(
      renamed.log(),
      new RegExp(`warning: ${dir}/alerts/pager holds 1 accepted report\\(s\\) or undelivered`),
    );
    // Configured again under its old id: replayed, and no warning.
    const back = await startMain(dir, archive("archive"), port);
    try {
      assert.doesNotMatch(back.log(), /spill\/archive holds/);
      const replayed = async () => (await Deno.readTextFile(`${dir}/archive.jsonl`).catch(() => "")).trim();
      await eventually(
        async () => (await replayed()).split("\n").length === 3 || undefined,
        10_000,
        "the replay",
      );
    } finally {
      await back.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGHUP (a closing terminal, kill -HUP) stops as SIGTERM does: exit 0, every accepted report kept", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-sighup-" });
  const port = freePort();
  const main = await startMain(dir, processConfig(dir, port, { receivers: [archiveReceiver(dir)] }), port);
  try {
    const token = await agentToken(main.base);
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${main.base}/data`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({
          id: `hup-${i}`,
          type: "ethereum_metrics",
          data: { type: "pending", body: { pending: i } },
        }),
      });
      assert.equal(res.status, 200);
      await res.body?.cancel();
    }
    main.child.kill("SIGHUP");
    // Before: killed by the signal (exit 129), no drain.
    assert.equal((await main.child.status).code, 0, await main.stderr);
    assert.match(main.log(), /SIGHUP: stopping/);
    const lines = (await Deno.readTextFile(`${dir}/archive.jsonl`)).trim().split("\n");
    assert.equal(lines.length, 50);
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM or SIGINT to `deno task start` reaches the service: it drains and exits, nothing left running", async () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    const dir = await Deno.makeTempDir({ prefix: "poa-task-signal-" });
    const port = freePort();
    const main = await startMain(
      dir,
      processConfig(dir, port, { receivers: [archiveReceiver(dir)] }),
      port,
      "task",
    );
    // The service's own pid (a child of the task runner), from the lock it holds on its data dir.
    const pid = Number((await Deno.readTextFile(`${dir}/service.lock`)).trim());
    try {
      assert.ok(pid > 0 && pid !== main.child.pid);
      main.child.kill(signal);
      assert.equal((await main.child.status).success, true, await main.stderr);
      assert.match(main.log(), new RegExp(`${signal}: stopping`));
      // The task runner waited for it: the service is gone (npx's shell would have left it running).
      assert.throws(() => Deno.kill(pid, "SIGCONT"), Deno.errors.NotFound);
      await assert.rejects(fetch(`${main.base}/healthz`));
    } finally {
      try {
        Deno.kill(pid, "SIGKILL"); // left running by a failed assertion above
      } catch { /* exited */ }
      await main.stop();
      await Deno.remove(dir, { recursive: true });
    }
  }
});

Deno.test("one Ctrl-C that arrives twice (deno task passes it on) still drains; a signal a second later exits at once", async () => {
  // A DynamoDB endpoint that accepts connections and never answers: the receiver cannot
  // initialise, so its queued block waits and the shutdown takes its shutdownTimeoutMs.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) held.push(conn);
  })();
  const dir = await Deno.makeTempDir({ prefix: "poa-sigint-" });
  const port = freePort();
  const config = processConfig(dir, port, {
    shutdownTimeoutMs: 30_000,
    receivers: [{
      id: "blocks",
      type: "dynamodb",
      subscribe: ["ethereum_metrics"],
      endpoint: `http://127.0.0.1:${(silent.addr as Deno.NetAddr).port}`,
      table: "blocks",
      accessKeyId: "test",
      secretAccessKey: "test",
    }],
  });
  let main: MainProcess | undefined;
  try {
    main = await startMain(dir, config, port);
    const { child, base } = main;
    const token = await agentToken(base);
    const block = await fetch(`${base}/data`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        id: "agent-1",
        type: "ethereum_metrics",
        data: { type: "block", body: { number: 1, hash: "0x01", parentHash: "0x00", timestamp: 1 } },
      }),
    });
    assert.equal(block.status, 200);
    await block.body?.cancel();

    const exited = child.status.then((s) => s.code);
    const after = (ms: number) => new Promise<"running">((r) => setTimeout(() => r("running"), ms));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGINT"); // the same Ctrl-C, passed on by deno task
    assert.equal(await Promise.race([exited, after(1_500)]), "running", "the repeat ended the drain");
    assert.match(main.log(), /SIGINT: stopping/);
    child.kill("SIGINT"); // a second Ctrl-C, well after the first
    assert.equal(await Promise.race([exited, after(5_000)]), 130, await main.stderr);
    assert.match(await main.stderr, /SIGINT again: exiting at once/);
  } finally {
    await main?.stop();
    silent.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stopDelayMs: after SIGTERM /healthz is 503 while reports are still answered, then the service stops", async () => {
  // Behind a balancer the listener closed at once cut requests on its pooled connections; with the
  // delay its health checks take the instance out first.
  const dir = await Deno.makeTempDir({ prefix: "poa-stopdelay-" });
  const port = freePort();
  const main = await startMain(
    dir,
    processConfig(dir, port, { stopDelayMs: 1_500, receivers: [archiveReceiver(dir)] }),
    port,
  );
  try {
    const token = await agentToken(main.base);
    const signalled = Date.now();
    main.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
    const health = await fetch(`${main.base}/healthz`);
    assert.equal(health.status, 503);
    await health.body?.cancel();
    const res = await fetch(`${main.base}/data`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        id: "late",
        type: "ethereum_metrics",
        data: { type: "pending", body: { pending: 1 } },
      }),
    });
    assert.equal(res.status, 200, "still served during the delay");
    await res.body?.cancel();
    const status = await main.child.status;
    assert.equal(status.code, 0);
    assert.ok(Date.now() - signalled >= 1_500, `stopped after ${Date.now() - signalled} ms`);
    assert.match(await Deno.readTextFile(`${dir}/archive.jsonl`), /"agentId":"late"/);
    assert.match(main.log(), /stopping: \/healthz answers 503 for 1500 ms first/);
  } finally {
    await main.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
