/**
 * `cluster.authStore: "kv"`: two instances' auth services over one Deno KV, their invalidations
 * on a real nats-server's subject.
 */
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { createAuthService } from "../auth/service.ts";
import { createKvAuthStore } from "../auth/kv_store.ts";
import { freePort, localNatsServer, natsServerBinary } from "../tasks/process.ts";
import { withNatsInvalidations } from "./nats_auth_store.ts";

const nats = await natsServerBinary().catch(() => null);

async function until(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out: ${what}`);
}

Deno.test({
  name:
    "auth store kv over NATS: a deactivation starts a new token epoch in the store: re-activated, old tokens stay dead",
  ignore: nats === null && !Deno.env.get("CI"), // CI installs nats-server: there a missing one fails
  async fn() {
    const port = freePort("127.0.0.1");
    const server = localNatsServer(nats!, port);
    await server.start();
    const kvPath = await Deno.makeTempFile({ suffix: ".kv" });
    const kv = await Deno.openKv(kvPath);
    const connections = [
      await connect({ servers: `127.0.0.1:${port}` }),
      await connect({ servers: `127.0.0.1:${port}` }),
    ];
    const [a, b] = await Promise.all(connections.map((nc) =>
      createAuthService({
        store: withNatsInvalidations(createKvAuthStore(kv), nc, "poa-auth.changes"),
        secret: "0123456789abcdef0123456789abcdef",
        ttlSeconds: 3600,
        admins: [],
      })
    ));
    try {
      assert.equal((await a!.createUser("agent1", "agent1-password")).ok, true);
      const token = await a!.issueToken("agent1", a!.activeEpoch("agent1")!);
      await until(async () => (await b!.checkToken(token)).ok, "b hears the new user");

      assert.equal(await b!.setActive("agent1", false), true);
      await until(async () => !(await a!.checkToken(token)).ok, "a hears the deactivation");
      assert.equal(await b!.setActive("agent1", true), true);
      await new Promise((r) => setTimeout(r, 200)); // both hear the re-activation (and reload the user)
      // Before: the wrapper dropped the new epoch, the reload brought the old one back with it.
      for (const auth of [a!, b!]) {
        assert.deepEqual(await auth.checkToken(token), { ok: false, reason: "revoked" });
      }
      const fresh = await b!.issueToken("agent1", b!.activeEpoch("agent1")!);
      await until(async () => (await a!.checkToken(fresh)).ok, "a new token works on both");
    } finally {
      a!.close();
      b!.close();
      await Promise.all(connections.map((nc) => nc.close()));
      kv.close();
      await server.kill();
      await Deno.remove(kvPath);
    }
  },
});
