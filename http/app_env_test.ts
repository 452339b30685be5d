import assert from "node:assert/strict";
import { Hono } from "hono";
import { type AppEnv, clientAddress } from "./app_env.ts";

const app = new Hono<AppEnv>().get("/", (c) => c.text(clientAddress(c)));

async function addressOf(peer: string, forwarded: string | undefined, trusted?: string[]): Promise<string> {
  const headers: Record<string, string> = forwarded === undefined ? {} : { "x-forwarded-for": forwarded };
  const env = {
    remoteAddr: { transport: "tcp" as const, hostname: peer, port: 1234 },
    trustedProxies: trusted && new Set(trusted),
  };
  return await (await app.request("/", { headers }, env)).text();
}

Deno.test("clientAddress: X-Forwarded-For only from a trusted proxy, its rightmost untrusted entry", async () => {
  assert.equal(await addressOf("203.0.113.9", "10.0.0.1"), "203.0.113.9"); // nobody trusted
  assert.equal(await addressOf("203.0.113.9", "10.0.0.1", ["127.0.0.1"]), "203.0.113.9"); // not a proxy
  assert.equal(await addressOf("127.0.0.1", "198.51.100.7", ["127.0.0.1"]), "198.51.100.7");
  // A client's own header is further left: HAProxy appended what it saw.
  assert.equal(await addressOf("127.0.0.1", "6.6.6.6, 198.51.100.7", ["127.0.0.1"]), "198.51.100.7");
  // Two proxies in a row.
  assert.equal(
    await addressOf("127.0.0.1", "198.51.100.7, 10.1.1.1", ["127.0.0.1", "10.1.1.1"]),
    "198.51.100.7",
  );
  assert.equal(await addressOf("127.0.0.1", undefined, ["127.0.0.1"]), "127.0.0.1");
  assert.equal(await addressOf("127.0.0.1", " , ", ["127.0.0.1"]), "127.0.0.1");
});
