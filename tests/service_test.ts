/** The whole service on real listeners: TLS, restarts, the agent flow end to end, shutdown. */
import assert from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { z } from "zod";
import type { ReceiverType } from "../core/receiver.ts";
import type { Message } from "../core/message.ts";
import { ALL_REPORTS, information, statisticsSynced } from "./support/fixtures.ts";
import { adminAuth, recorderType, waitFor } from "./support/harness.ts";
import { agentSession } from "./support/agent.ts";
import { startTestService } from "./support/service.ts";
import { openFilesLimit } from "../service.ts";
import { wsClient } from "./support/ws.ts";

async function send(
  base: string,
  token: string,
  path: string,
  body: unknown,
  enc: "json" | "msgpack" = "json",
) {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": enc === "json" ? "application/json" : "application/msgpack",
    },
    body: enc === "json" ? JSON.stringify(body) : encode(body),
  });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  assert.deepEqual(await res.json(), { result: "success" });
}

/** Opens a dashboard websocket (secret in the `wssecret` header) and collects parsed frames. */
function dashboardClient(base: string, secret: string) {
  return wsClient<{ agent_id: string; data: Record<string, unknown> }>(base.replace("http", "ws") + "/ws", {
    wssecret: secret,
  });
}

Deno.test("end to end: admin creates a user, the agent reports every data shape in JSON and msgpack, the dashboard and subscribed receivers get them", async () => {
  const seen: Record<string, { messages: Message[]; inactive: string[] }> = {};
  const t = await startTestService({
    receivers: [
      {
        id: "dashboard",
        type: "dashboard",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      },
      {
        id: "all",
        type: "recorder",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      },
      { id: "system-only", type: "recorder", subscribe: ["system_metrics"] },
    ],
  }, { recorder: recorderType(seen) });
  try {
    const client = await dashboardClient(t.base, t.wsSecret);
    const token = await agentSession(t.base);
    await send(t.base, token, "/ping", { id: "agent-1" });
    for (const enc of ["json", "msgpack"] as const) {
      for (const report of ALL_REPORTS) {
        await send(t.base, token, "/data", {
          id: `agent-${enc}`,
          type: report.type,
          data: report.data,
          "agent-id": "x",
        }, enc);
      }
    }
    const total = ALL_REPORTS.length * 2;
    await waitFor(
      () => seen["all"]!.messages.length === total && client.frames.length === total,
      5000,
      "deliveries",
    );
    for (const [i, enc] of ["json", "msgpack"].entries()) {
      for (const [j, report] of ALL_REPORTS.entries()) {
        const m = seen["all"]!.messages[i * ALL_REPORTS.length + j]!;
        assert.equal(m.agentId, `agent-${enc}`);
        assert.equal(m.dataType, report.type);
        assert.deepEqual(m.data, report.data);
        assert.deepEqual(client.frames[i * ALL_REPORTS.length + j], {
          agent_id: `agent-${enc}`,
          data: report.data,
        });
      }
    }
    // The msgpack block report got the body kept from its JSON twin (core/shared_blocks.ts).
    const blockAt = ALL_REPORTS.findIndex((r) => r.data["type"] === "block");
    const bodyAt = (i: number) => seen["all"]!.messages[i]!.data["body"];
    assert.equal(bodyAt(ALL_REPORTS.length + blockAt), bodyAt(blockAt));
    const metrics = await (await fetch(`${t.base}/metrics`)).text();
    assert.match(metrics, /^poa_shared_block_reports_total 1$/m);
    // Routing: the system-only receiver sees only system_metrics.
    await waitFor(() => seen["system-only"]!.messages.length === 2, 5000, "system-only deliveries");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen["system-only"]!.messages.length, 2);
    assert.ok(seen["system-only"]!.messages.every((m) => m.dataType === "system_metrics"));
    await send(t.base, token, "/bye", { id: "agent-1" });
    await waitFor(() => seen["system-only"]!.inactive.includes("agent-1"), 3000, "bye");
    await client.close();
  } finally {
    await t.close();
  }
});

Deno.test("inactivity over a real listener: the dashboard gets the inactive statistics, and a late client gets the replay", async () => {
  const t = await startTestService({
    inactivityTimeoutMs: 300,
    receivers: [{ id: "dashboard", type: "dashboard", subscribe: ["ethereum_metrics"] }],
  });
  try {
    const client = await dashboardClient(t.base, t.wsSecret);
    const token = await agentSession(t.base);
    await send(t.base, token, "/ping", { id: "n1" });
    await send(t.base, token, "/data", { id: "n1", type: "ethereum_metrics", data: information });
    await send(t.base, token, "/data", { id: "n1", type: "ethereum_metrics", data: statisticsSynced });
    const inactive = {
      agent_id: "n1",
      data: {
        type: "statistics",
        body: {
          active: false,
          mining: false,
          hashrate: 0,
          peers: 0,
          gasPrice: null,
          syncing: null,
          uptime: null,
        },
      },
    };
    await waitFor(() => client.frames.length === 3, 3000, "inactive frame");
    assert.deepEqual(client.frames[2], inactive);
    const late = await dashboardClient(t.base, t.wsSecret);
    await waitFor(() => late.frames.length === 2, 3000, "replay");
    assert.deepEqual(late.frames, [{ agent_id: "n1", data: information }, inactive]);
    await client.close();
    await late.close();
  } finally {
    await t.close();
  }
});

Deno.test("on shutdown, dashboard websockets are closed 1001 going away (were 1005, a code no peer may be sent)", async () => {
  const t = await startTestService({
    receivers: [{ id: "dashboard", type: "dashboard", subscribe: ["ethereum_metrics"] }],
  });
  try {
    const ws = new WebSocket(`${t.base.replace("http", "ws")}/ws`, { headers: { wssecret: t.wsSecret } });
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error("websocket failed"));
    });
    const closed = new Promise<CloseEvent>((resolve) => ws.onclose = resolve);
    ws.onerror = () => {}; // an invalid close code is reported as an error too
    await t.stop();
    const event = await closed;
    assert.equal(event.code, 1001, `code ${event.code} ${event.reason}`);
  } finally {
    await t.close();
  }
});

Deno.test("a dashboard client without the secret is refused with 401", async () => {
  const t = await startTestService({
    receivers: [{ id: "dashboard", type: "dashboard", subscribe: ["ethereum_metrics"] }],
  });
  try {
    const res = await fetch(`${t.base}/ws`, {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": btoa("0123456789abcdef"),
        "sec-websocket-version": "13",
        wssecret: "wrong",
      },
    });
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, "unauthorized");
  } finally {
    await t.close();
  }
});

Deno.test("users and the JWT secret survive a restart (KV file)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-restart-" });
  try {
    const config = { jwt: {} }; // no secret: generated once and kept in KV
    const first = await startTestService(config, {}, dir);
    const token = await agentSession(first.base);
    await first.stop();
    const second = await startTestService(config, {}, dir);
    try {
      await send(second.base, token, "/ping", { id: "survivor" });
      const users = await (await fetch(`${second.base}/user`, { headers: adminAuth })).json();
      assert.equal(users.length, 1);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("agent ids survive a restart: the places a user's nodes held are theirs again, not the first comers'", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-restart-ids-" });
  try {
    const config = { agentIds: { maxPerUser: 2 } };
    const first = await startTestService(config, {}, dir);
    const token = await agentSession(first.base);
    for (const id of ["held-1", "held-2"]) await send(first.base, token, "/ping", { id });
    await first.stop();
    const second = await startTestService(config, {}, dir);
    try {
      // Before: a restart freed every place, and the first new id to come took one.
      const late = await fetch(`${second.base}/ping`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ id: "newcomer" }),
      });
      assert.equal(late.status, 429);
      assert.equal((await late.json()).error, "agent_id_limit");
      for (const id of ["held-1", "held-2"]) await send(second.base, token, "/ping", { id });
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a generated admin password file goes once admins are configured (it no longer logs in)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-admins-" });
  try {
    const first = await startTestService({ admins: [] }, {}, dir);
    const generated = (await Deno.readTextFile(`${dir}/admin-password`)).trim();
    const basic = (password: string) => ({ authorization: `Basic ${btoa(`admin:${password}`)}` });
    assert.equal((await fetch(`${first.base}/user`, { headers: basic(generated) })).status, 200);
    await first.stop();
    // Before: the file stayed, and what read it (`deno task sim --admin-password-file`) got 401s.
    const second = await startTestService({}, {}, dir);
    try {
      assert.equal((await fetch(`${second.base}/user`, { headers: basic(generated) })).status, 401);
      await assert.rejects(Deno.stat(`${dir}/admin-password`), Deno.errors.NotFound);
      assert.equal((await fetch(`${second.base}/user`, { headers: adminAuth })).status, 200);
    } finally {
      await second.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a listener with tls serves HTTPS with the configured certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-tls-" });
  const cmd = new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
    ],
    stdout: "null",
    stderr: "piped",
  });
  const out = await cmd.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const t = await startTestService({
    listen: [{
      hostname: "127.0.0.1",
      port: 0,
      routes: ["auth", "ops"],
      tls: { certFile: `${dir}/cert.pem`, keyFile: `${dir}/key.pem` },
    }],
  });
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${dir}/cert.pem`)] });
  try {
    assert.ok(t.base.startsWith("https://"));
    const res = await fetch(`https://localhost:${t.service.listeners[0]!.port}/healthz`, { client });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: "ok" });
    // The protocol group is not served on this listener.
    const ping = await fetch(`https://localhost:${t.service.listeners[0]!.port}/ping`, {
      method: "POST",
      client,
    });
    assert.equal(ping.status, 404);
    await ping.body?.cancel();
    await assert.rejects(fetch(`http://127.0.0.1:${t.service.listeners[0]!.port}/healthz`));
  } finally {
    client.close();
    await t.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("/healthz is 503 naming the receivers still starting until each one's init has succeeded", async () => {
  let sinkUp = false;
  const slowStart = {
    options: z.object({}).strict(),
    create: (_options: unknown, context: { config: { id: string } }) => ({
      id: context.config.id,
      durable: false,
      init() {
        if (!sinkUp) return Promise.reject(new Error("sink not reachable yet"));
        return Promise.resolve();
      },
      receive: () => Promise.resolve(),
    }),
  };
  const t = await startTestService({
    receivers: [{ id: "slow-sink", type: "slow", subscribe: ["ethereum_metrics"] }],
  }, { slow: slowStart as ReceiverType });
  try {
    const starting = await fetch(`${t.base}/healthz`);
    assert.equal(starting.status, 503);
    assert.deepEqual(await starting.json(), {
      error: "not_ready",
      message: "receivers still starting: slow-sink",
    });
    sinkUp = true;
    // The runner retries init with backoff (100 ms doubling, capped at 5 s).
    let status = 503;
    for (const deadline = Date.now() + 10_000; status !== 200 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`${t.base}/healthz`);
      await res.body?.cancel();
      status = res.status;
    }
    assert.equal(status, 200);
  } finally {
    await t.close();
  }
});

Deno.test("openFilesLimit reads this process's soft limit (what the service logs at start)", async () => {
  const limits = "Limit                     Soft Limit           Hard Limit           Units     \n" +
    "Max open files            20000                40000                files     \n";
  assert.equal(openFilesLimit(limits), 20000);
  assert.equal(
    openFilesLimit("Max open files            unlimited            unlimited            files"),
    Infinity,
  );
  assert.equal(openFilesLimit("nothing here"), null);
  // This process's own, as `prlimit` would set it for a child.
  const out = await new Deno.Command("prlimit", {
    args: [
      "--nofile=12345:12345",
      "--",
      Deno.execPath(),
      "eval",
      "console.log(Deno.readTextFileSync('/proc/self/limits'))",
    ],
    stdout: "piped",
  }).output();
  assert.equal(openFilesLimit(new TextDecoder().decode(out.stdout)), 12345);
});

Deno.test("a second service on the same data dir stops at start-up, naming the dir; once the first stops it starts", async () => {
  const first = await startTestService();
  try {
    await assert.rejects(
      startTestService({}, {}, first.dataDir),
      (err: Error) =>
        err.message.startsWith(
          `dataDir ${first.dataDir} is in use by a running service (pid ${Deno.pid})`,
        ),
    );
    assert.equal(await fetch(`${first.base}/healthz`).then((r) => (r.body?.cancel(), r.status)), 200);
    await first.stop();
    const second = await startTestService({}, {}, first.dataDir);
    await second.stop();
  } finally {
    await first.close();
  }
});
