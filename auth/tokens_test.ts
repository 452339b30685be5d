import assert from "node:assert/strict";
import { createTokens } from "./tokens.ts";

Deno.test("tokens: issued ones verify (then from memory, without a promise), others are invalid or expired", async () => {
  let clock = 1_700_000_000_000;
  const options = { secret: "s".repeat(32), ttlSeconds: 60, cacheSize: 10, now: () => clock };
  const tokens = await createTokens(options);
  const token = await tokens.issue("agent", "epoch-1");
  const first = tokens.claims(token);
  assert.ok(first instanceof Promise); // first sight: the signature is checked
  const claims = await first;
  assert.ok(typeof claims === "object");
  assert.deepEqual([claims.sub, claims.ep, claims.exp], ["agent", "epoch-1", clock / 1000 + 60]);
  assert.deepEqual(tokens.claims(token), claims); // remembered: no promise on the hot path

  const other = await createTokens({ ...options, secret: "t".repeat(32) });
  assert.equal(await other.claims(token), "invalid"); // signed with another secret
  assert.equal(await tokens.claims(`${token}x`), "invalid");
  const old = await tokens.issue("agent", "epoch-1");
  clock += 61_000;
  assert.equal(await tokens.claims(old), "expired"); // never seen before its expiry
  tokens.forgetExpired();
  assert.ok(tokens.claims(token) instanceof Promise, "an expired token is forgotten");
});
