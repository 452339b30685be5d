import assert from "node:assert/strict";
import { Hono } from "hono";
import { addressKey, type AppEnv, clientAddress } from "./app_env.ts";

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

Deno.test("addressKey: IPv4 as it is, IPv4-mapped IPv6 as IPv4, IPv6 as its /64, anything else as it is", () => {
  assert.equal(addressKey("203.0.113.9"), "203.0.113.9");
  assert.equal(addressKey("::ffff:203.0.113.9"), "203.0.113.9");
  assert.equal(addressKey("::FFFF:cb00:7109"), "203.0.113.9");
  for (
    const a of [
      "2001:db8:1:2::1",
      "2001:db8:1:2:ffff:ffff:ffff:ffff",
      "2001:0DB8:0001:0002:0:0:0:7",
      "2001:db8:1:2::9%eth0",
    ]
  ) {
    assert.equal(addressKey(a), "2001:db8:1:2::/64", a);
  }
  assert.equal(addressKey("2001:db8:1:3::1"), "2001:db8:1:3::/64");
  assert.equal(addressKey("::1"), "0:0:0:0::/64");
  assert.equal(addressKey("fe80::1:2:3:4"), "fe80:0:0:0::/64");
  assert.equal(addressKey("64:ff9b::192.0.2.33"), "64:ff9b:0:0::/64");
  for (
    const odd of ["unknown", "1:2:3", "1::2::3", "1:2:3:4:5:6:7:8:9", "g::1", "::ffff:300.1.1.1", "12345::1"]
  ) {
    assert.equal(addressKey(odd), odd, odd);
  }
});
