/** The NATS connection of an instance against a real nats-server that goes away and comes back. */
import assert from "node:assert/strict";
import { guardStrayNetworkErrors } from "../core/stray_errors.ts";
import { freePort, localNatsServer, natsServerBinary } from "../tasks/process.ts";
import { eventually } from "../tests/support/agent.ts";
import { connectNats } from "./nats.ts";

const nats = await natsServerBinary().catch(() => null);

Deno.test({
  name:
    "a NATS server that refuses the instance's credentials for a while (restarted with auth): the instance reconnects once it takes them again",
  ignore: nats === null && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    const port = freePort("127.0.0.1");
    const store = await Deno.makeTempDir({ prefix: "nats-auth-" });
    const server = (auth: string[]) => localNatsServer(nats!, port, ["-js", "-sd", store, ...auth]);
    const logs: string[] = [];
    // As main.ts runs it: nats.js's transport can throw a reset from a socket it stopped listening to.
    const guard = guardStrayNetworkErrors((line) => logs.push(line));
    let current = server([]);
    await current.start();
    const runtime = await connectNats({
      servers: `127.0.0.1:${port}`,
      stream: "AUTHTEST",
      replicas: 1,
      maxAgeSeconds: 3600,
      ackWaitSeconds: 30,
      publishTimeoutMs: 2000,
      outboxMaxBytes: 1 << 20,
    }, { log: (line) => logs.push(line) });
    try {
      await current.kill();
      // An operator turns authentication on (the instance's config not updated yet).
      current = server(["--user", "poa", "--pass", "secret"]);
      await current.start();
      const refusals = () =>
        current.output().split("\n").filter((l) => /authentication error|Authorization Violation/i.test(l));
      // Before: nats.js stopped trying after the second.
      await eventually(() => refusals().length >= 3 || undefined, 15_000, "three refused logins");
      await current.kill();
      current = server([]);
      await current.start();
      // Before, closed for good: /healthz still ok, the outbox growing until a restart.
      await eventually(
        () => logs.some((l) => l.startsWith("nats: reconnect")) || undefined,
        15_000,
        "a reconnect",
      );
      assert.equal(runtime.nc.isClosed(), false);
      await runtime.nc.flush();
    } finally {
      await runtime.close();
      await current.kill();
      guard.remove();
      await Deno.remove(store, { recursive: true });
    }
  },
});
