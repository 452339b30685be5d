import assert from "node:assert/strict";
import { authenticateHello, readCredentials } from "./credentials.ts";

const users = new Set(["alice", "node1"]);
const rules = { sharedSecret: "shared-secret-123", isUser: (n: string) => users.has(n) };

/**
 * go-ethereum's parseEthstatsURL (ethstats/ethstats.go): the host after the last '@', the
 * secret after the last ':' before it. Ported with its own test cases, so the rules below
 * are checked against what geth really sends for a given --ethstats value.
 */
function gethSplit(url: string): { name: string; secret: string; host: string } {
  const at = url.lastIndexOf("@");
  if (at < 0) throw new Error("missing @");
  const userinfo = url.slice(0, at);
  const colon = userinfo.lastIndexOf(":");
  if (colon < 0) throw new Error("missing secret");
  return { name: userinfo.slice(0, colon), secret: userinfo.slice(colon + 1), host: url.slice(at + 1) };
}

/** Besu's EthStatsConnectOptions: java.net.URI user-info, name before the first ':'. */
function besuSplit(userInfo: string): { name: string; secret: string } {
  const colon = userInfo.indexOf(":");
  return { name: userInfo.slice(0, colon), secret: userInfo.slice(colon + 1) };
}

Deno.test("geth's own parseEthstatsURL cases split as geth splits them", () => {
  // ethstats_test.go TestParseEthstatsURL
  assert.deepEqual(gethSplit("name:secret@host:port"), { name: "name", secret: "secret", host: "host:port" });
  assert.deepEqual(gethSplit("nam:e:secret@host:port"), {
    name: "nam:e",
    secret: "secret",
    host: "host:port",
  });
  assert.deepEqual(gethSplit("name:@host:port"), { name: "name", secret: "", host: "host:port" });
  assert.deepEqual(gethSplit("name@name:secret@host:port"), {
    name: "name@name",
    secret: "secret",
    host: "host:port",
  });
  assert.throws(() => gethSplit("name:secret"));
  assert.throws(() => gethSplit("name@host:port"));
});

Deno.test("geth --ethstats user:password@host logs in as the user, named after it", () => {
  const { name, secret } = gethSplit("alice:pa55word@127.0.0.1:3000");
  // geth sends hello.id = info.name = name
  assert.deepEqual(readCredentials(name, name, secret, rules), {
    kind: "user",
    user: "alice",
    password: "pa55word",
    agentId: "alice",
    displayName: null,
  });
});

Deno.test("geth --ethstats display:user:password@host shows the display name", () => {
  const { name, secret } = gethSplit("node-7:alice:pa55word@127.0.0.1:3000");
  assert.equal(name, "node-7:alice");
  assert.deepEqual(readCredentials(name, name, secret, rules), {
    kind: "user",
    user: "alice",
    password: "pa55word",
    agentId: "node-7",
    displayName: "node-7",
  });
  // A display name may hold colons itself: the user is after the last one.
  const deep = gethSplit("eu:west:node-7:alice:pw@h");
  const creds = readCredentials(deep.name, deep.name, deep.secret, rules);
  assert.equal(creds.kind === "user" && creds.user, "alice");
  assert.equal(creds.agentId, "eu:west:node-7");
  // An empty display part (`:alice:pw@h`) shows and reports as the user: no empty agent id.
  const bare = gethSplit(":alice:pw@h");
  assert.deepEqual(readCredentials(bare.name, bare.name, bare.secret, rules), {
    kind: "user",
    user: "alice",
    password: "pw",
    agentId: "alice",
    displayName: "alice",
  });
});

Deno.test("verbatim user:password secrets (Nethermind, eth-net-intelligence-api) log in as that user", () => {
  // Nethermind: id "<Name>-0x<keccak>", info.name = Name, secret verbatim
  const id = "node1-0x" + "ab".repeat(32);
  assert.deepEqual(readCredentials(id, "node1", "alice:pa:55", rules), {
    kind: "user",
    user: "alice",
    password: "pa:55",
    agentId: id,
    displayName: null,
  });
  // an unknown prefix is not a user: the name is, and the whole secret its password
  const creds = readCredentials("node1", "node1", "bob:pw", rules);
  assert.deepEqual(creds, {
    kind: "user",
    user: "node1",
    password: "bob:pw",
    agentId: "node1",
    displayName: null,
  });
});

Deno.test("Besu: both of its forms, with the enode id as hello.id", () => {
  const enode = "0x" + "12".repeat(64);
  const a = besuSplit("node1:alice:pw");
  assert.deepEqual(readCredentials(enode, a.name, a.secret, rules), {
    kind: "user",
    user: "alice",
    password: "pw",
    agentId: enode,
    displayName: null,
  });
  const b = besuSplit("alice:pw");
  const creds = readCredentials(enode, b.name, b.secret, rules);
  assert.equal(creds.kind === "user" && creds.user, "alice");
  assert.equal(creds.agentId, enode);
});

Deno.test("the shared secret wins and keeps hello.id; without one it is just a password", () => {
  assert.deepEqual(readCredentials("n", "n", "shared-secret-123", rules), {
    kind: "shared",
    agentId: "n",
    displayName: null,
  });
  const creds = readCredentials("n", "n", "shared-secret-123", { isUser: rules.isUser });
  assert.equal(creds.kind, "user");
  // no info.name: hello.id is the name
  assert.equal(readCredentials("x:alice", null, "pw", rules).agentId, "x");
});

Deno.test("authenticateHello: the geth form logs in; wrong secrets count as guesses, a deactivated user's right one does not (in either form)", async () => {
  const { createKvAuthStore } = await import("../../auth/kv_store.ts");
  const { createAuthService } = await import("../../auth/service.ts");
  const { createLoginLimiter } = await import("../../auth/login_limit.ts");
  const kv = await Deno.openKv(":memory:");
  const auth = await createAuthService({
    store: createKvAuthStore(kv),
    secret: "s".repeat(40),
    ttlSeconds: 60,
    admins: [],
  });
  try {
    await auth.createUser("alice", "alice-password");
    const limiter = createLoginLimiter({ maxFailures: 5, windowSeconds: 60 });
    const deps = { auth, limiter };
    const hello = (name: string, secret: string) => ({ id: name, info: { name }, secret });
    assert.deepEqual(await authenticateHello(deps, "a", hello("eu-1:alice", "alice-password")), {
      ok: true,
      user: "alice",
      agentId: "eu-1",
      displayName: "eu-1",
    });
    assert.deepEqual(await authenticateHello(deps, "a", hello("alice", "nope")), {
      ok: false,
      message: "wrong secret",
    });
    assert.equal(limiter.failures, 1);
    await auth.setActive("alice", false);
    assert.deepEqual(await authenticateHello(deps, "a", hello("alice", "alice-password")), {
      ok: false,
      message: "user is inactive or deleted",
    });
    assert.equal(limiter.failures, 1);
    // Verbatim `user:password` (POA agent's Primus transfer, eth-net-intelligence-api, Nethermind)
    // under a node name of its own: still the deactivated user's right password, not a guess at a
    // user named after the node (which had locked its address for every user after a few hellos).
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await authenticateHello(deps, "a", hello(`node-${i}`, "alice:alice-password")), {
        ok: false,
        message: "user is inactive or deleted",
      });
    }
    assert.equal(limiter.failures, 1);
  } finally {
    auth.close();
    kv.close();
  }
});
