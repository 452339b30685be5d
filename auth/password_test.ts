import assert from "node:assert/strict";
import { hashPassword, SCRYPT_CONCURRENCY, scryptLoad, verifyPassword } from "./password.ts";

Deno.test("at most SCRYPT_CONCURRENCY scrypt runs at once; the rest queue and all finish right", async () => {
  const stored = await hashPassword("right horse battery");
  const attempts = Array.from({ length: 7 }, (_, i) => i % 2 === 0 ? "right horse battery" : `wrong ${i}`);
  const checks = attempts.map((password) => verifyPassword(password, stored));
  const hashes = [hashPassword("a"), hashPassword("b")];
  // The slots are taken synchronously: the calls beyond the limit are waiting now.
  assert.deepEqual(scryptLoad().running, SCRYPT_CONCURRENCY);
  assert.equal(scryptLoad().queued, attempts.length + hashes.length - SCRYPT_CONCURRENCY);
  assert.deepEqual(await Promise.all(checks), attempts.map((p) => p === "right horse battery"));
  assert.ok(await verifyPassword("b", await hashes[1]!));
  assert.ok(!(await verifyPassword("a", await hashes[1]!)));
  assert.ok(scryptLoad().peak <= SCRYPT_CONCURRENCY);
  assert.deepEqual({ running: scryptLoad().running, queued: scryptLoad().queued }, { running: 0, queued: 0 });
});

Deno.test("a failing scrypt (malformed parameters) frees its slot", async () => {
  // N must be a power of two: node:crypto refuses 3.
  const bad = `scrypt$3$8$1$${btoa("salt")}$${btoa("x".repeat(32))}`;
  const results = await Promise.allSettled(Array.from({ length: 4 }, () => verifyPassword("x", bad)));
  assert.ok(results.every((r) => r.status === "rejected"));
  assert.equal(scryptLoad().running, 0);
  assert.ok(await verifyPassword("ok", await hashPassword("ok")));
});

Deno.test("hashes made with other scrypt settings (the earlier N = 2^14) still verify", async () => {
  const { scryptSync, randomBytes } = await import("node:crypto");
  const salt = randomBytes(16);
  const key = scryptSync("old-password", salt, 32, { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  const stored = `scrypt$16384$8$1$${salt.toString("base64")}$${key.toString("base64")}`;
  assert.equal(await verifyPassword("old-password", stored), true);
  assert.equal(await verifyPassword("other", stored), false);
  assert.match(await hashPassword("new"), /^scrypt\$8192\$8\$1\$/);
});
