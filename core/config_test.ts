import assert from "node:assert/strict";
import {
  applyEnv,
  ConfigError,
  configPathFrom,
  configSchema,
  defaultReceivers,
  loadConfig,
  loadConfigAndEnv,
  metricsWithoutReceiver,
  parseConfig,
} from "./config.ts";

Deno.test("no config file gives defaults that run: one listener serving every route group", () => {
  const config = parseConfig({});
  assert.equal(config.listen.length, 1);
  assert.deepEqual(config.listen[0]!.routes, ["auth", "protocol", "dashboard", "ops"]);
  assert.equal(config.inactivityTimeoutMs, 7000);
  assert.deepEqual(config.loginLimit, { maxFailures: 10, windowSeconds: 300 });
  assert.deepEqual(config.agentIds, { maxPerUser: 10_000, forgetAfterMs: 7 * 86_400_000 });
  assert.deepEqual(config.queue, {
    maxItems: 10_000,
    maxLiveItems: 50_000,
    maxBytes: 128 * 1024 * 1024,
    maxSpillBufferBytes: 128 * 1024 * 1024,
    segmentSize: 1000,
    spillFlushMs: 100,
    maxSpillBuffer: 20_000,
    maxSpillBytes: 1024 * 1024 * 1024,
    spillAfterFailingMs: 5_000,
    burstFramesPerSecond: 6_000,
    maxBurstHoldMs: 2_000,
  });
  assert.equal(config.ethstats.silentCloseSeconds, 60);
  assert.equal(parseConfig({ ethstats: { path: "/ws" } }).ethstats.silentCloseSeconds, 60);
  // The KV file lives in dataDir unless kv.path says otherwise.
  assert.equal(config.kv.path, "data/poa.kv");
  assert.equal(parseConfig({ dataDir: "/srv/poa" }).kv.path, "/srv/poa/poa.kv");
  assert.equal(parseConfig({ dataDir: "/srv/poa", kv: { path: "/var/kv" } }).kv.path, "/var/kv");
  // A partial queue section keeps the other defaults.
  assert.deepEqual(parseConfig({ queue: { maxSpillBuffer: 5 } }).queue, {
    maxItems: 10_000,
    maxLiveItems: 50_000,
    maxBytes: 128 * 1024 * 1024,
    maxSpillBufferBytes: 128 * 1024 * 1024,
    segmentSize: 1000,
    spillFlushMs: 100,
    maxSpillBuffer: 5,
    maxSpillBytes: 1024 * 1024 * 1024,
    spillAfterFailingMs: 5_000,
    burstFramesPerSecond: 6_000,
    maxBurstHoldMs: 2_000,
  });
});

Deno.test("the original layout can be configured (protocol 4002, auth 4003 over TLS, dashboard 8181)", () => {
  const config = parseConfig({
    listen: [
      { hostname: "0.0.0.0", port: 4002, routes: ["protocol"] },
      { hostname: "0.0.0.0", port: 4003, routes: ["auth"], tls: { certFile: "c.pem", keyFile: "k.pem" } },
      { hostname: "0.0.0.0", port: 8181, routes: ["dashboard"] },
    ],
  });
  assert.equal(config.listen[1]!.tls?.certFile, "c.pem");
});

Deno.test("an invalid config names the key and the problem", () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ listen: [{ port: "4000" }] }, /listen\.0\.port/],
    [{ listen: [{ port: 1, routes: ["web"] }] }, /listen\.0\.routes\.0/],
    [{ jwt: { secret: "short" } }, /jwt\.secret: must be at least 16/],
    [{ loginLimit: { maxFailures: -1 } }, /loginLimit\.maxFailures/],
    [{ agentIds: { forgetAfterMs: 1000 } }, /agentIds\.forgetAfterMs/],
    [{ inactivityTimout: 5 }, /unknown key.*inactivityTimout/],
    [
      { receivers: [{ id: "a", type: "dashboard" }, { id: "a", type: "eth_stats" }] },
      /receivers\.1\.id: duplicate/,
    ],
    [{ metrics: ["bad type!"] }, /metrics\.0/],
    [{ queue: { maxSpillBuffer: 0 } }, /queue\.maxSpillBuffer/],
    [{ queue: { maxSpillBytes: -1 } }, /queue\.maxSpillBytes/],
    [{ queue: { spillFlushMs: 1.5 } }, /queue\.spillFlushMs/],
    [{ ethstats: { silentCloseSeconds: 0 } }, /ethstats\.silentCloseSeconds/],
    [[], /\(root\)/],
  ];
  for (const [raw, pattern] of cases) {
    assert.throws(
      () => parseConfig(raw),
      (err: Error) => err instanceof ConfigError && pattern.test(err.message),
    );
  }
});

Deno.test("environment variables override secrets and the database URL", () => {
  const config = applyEnv(parseConfig({}), {
    POA_JWT_SECRET: "0123456789abcdef0123",
    POA_ADMIN_PASSWORD: "admin-password",
    DATABASE_URL: "postgres://x@y/z",
  });
  assert.equal(config.jwt.secret, "0123456789abcdef0123");
  assert.deepEqual(config.admins, [{ name: "admin", password: "admin-password" }]);
  assert.equal(config.postgres.url, "postgres://x@y/z");
  assert.throws(() => applyEnv(parseConfig({}), { POA_JWT_SECRET: "short" }), /POA_JWT_SECRET/);
});

Deno.test("the config path comes from --config or POA_CONFIG", () => {
  assert.equal(configPathFrom(["--config", "a.json"], {}), "a.json");
  assert.equal(configPathFrom(["--config=b.json"], { POA_CONFIG: "c.json" }), "b.json");
  assert.equal(configPathFrom([], { POA_CONFIG: "c.json" }), "c.json");
  assert.equal(configPathFrom([], {}), undefined);
  assert.throws(() => configPathFrom(["--config"], {}), ConfigError);
  // Before: ignored, and the service started with the defaults on 0.0.0.0:4000.
  for (const args of [["--port", "5000"], ["--help"], ["-c", "a.json"], ["--config", "a.json", "--bogus"]]) {
    assert.throws(() => configPathFrom(args, {}), /unknown argument/);
  }
});

Deno.test("metric types no receiver takes are named", () => {
  const config = parseConfig({});
  assert.deepEqual(metricsWithoutReceiver(config.metrics, defaultReceivers(config)), []);
  // The README's retention example alone: a receivers list replaces the default one whole.
  const only = parseConfig({
    receivers: [{ id: "eth_stats", type: "eth_stats", subscribe: ["ethereum_metrics"], retentionDays: 30 }],
  });
  assert.deepEqual(metricsWithoutReceiver(only.metrics, only.receivers!), [
    "networking_metrics",
    "system_metrics",
  ]);
});

Deno.test("loadConfig reports unreadable files and invalid JSON", async () => {
  await assert.rejects(loadConfig("/nonexistent/poa.json"), /cannot read config file/);
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, "{ not json");
    await assert.rejects(loadConfig(path), /not valid JSON/);
    await Deno.writeTextFile(path, JSON.stringify({ inactivityTimeoutMs: 100 }));
    assert.equal((await loadConfig(path)).inactivityTimeoutMs, 100);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("envFile: secrets read from an owner-only file beside the config; the process environment wins", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-envfile-" });
  try {
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify({ envFile: "secrets.env" }));
    await Deno.writeTextFile(
      `${dir}/secrets.env`,
      "# shared by the instances\nPOA_ADMIN_PASSWORD=from-the-file-123\n\nDATABASE_URL=postgres://u:p@db/poa\nPOA_WS_SECRET=ws-from-file\n",
      { mode: 0o600 },
    );
    const { config, env } = await loadConfigAndEnv(`${dir}/config.json`, { POA_WS_SECRET: "ws-from-env" });
    assert.deepEqual(config.admins.find((a) => a.name === "admin")?.password, "from-the-file-123");
    assert.equal(config.postgres.url, "postgres://u:p@db/poa");
    assert.equal(env.POA_WS_SECRET, "ws-from-env");
    await Deno.chmod(`${dir}/secrets.env`, 0o644);
    await assert.rejects(loadConfigAndEnv(`${dir}/config.json`, {}), /may be read by others \(mode 644\)/);
    await Deno.writeTextFile(`${dir}/secrets.env`, "not a pair\n", { mode: 0o600 });
    await Deno.chmod(`${dir}/secrets.env`, 0o600);
    await assert.rejects(loadConfigAndEnv(`${dir}/config.json`, {}), /secrets.env:1: expected KEY=value/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("every top-level config key has a row in the README's configuration table", async () => {
  // `envFile` and `cluster` had none (an operator trial read the table as the whole list).
  const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
  const table = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("### Environment variables"));
  const rows = new Set([...table.matchAll(/^\| `([A-Za-z]+)[.`]/gm)].map((m) => m[1]));
  const missing = Object.keys(configSchema.in.shape).filter((key) => !rows.has(key));
  assert.deepEqual(missing, []);
});
