import assert from "node:assert/strict";
import { createGeo, publicAddress } from "./geo.ts";

const geo = createGeo();

Deno.test("geo: a public IPv4 address is placed in its country, with coordinates", () => {
  const google = geo.lookup("8.8.8.8");
  assert.equal(google?.country, "US");
  assert.ok(google !== null && Math.abs(google.lat) <= 90 && Math.abs(google.lon) <= 180);
  const bracknell = geo.lookup("81.2.69.142"); // MaxMind's own test address
  assert.equal(bracknell?.country, "GB");
  assert.equal(bracknell?.city, "Bracknell");
});

Deno.test("geo: IPv6, IPv4-mapped IPv6 and bracketed addresses are looked up", async () => {
  await geo.load();
  assert.equal(geo.lookup("2001:4860:4860::8888")?.country, "US");
  assert.deepEqual(geo.lookup("::ffff:8.8.8.8"), geo.lookup("8.8.8.8"));
  assert.deepEqual(geo.lookup("::ffff:0808:0808"), geo.lookup("8.8.8.8"));
  assert.deepEqual(geo.lookup("[2001:4860:4860::8888]"), geo.lookup("2001:4860:4860::8888"));
});

Deno.test("geo: private, loopback, link-local and malformed addresses have no location", () => {
  for (
    const a of [
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "127.0.0.1",
      "169.254.1.1",
      "100.64.0.1",
      "0.0.0.0",
      "224.0.0.1",
      "::1",
      "::",
      "fe80::1%eth0",
      "fd00::1",
      "ff02::1",
      "::ffff:127.0.0.1",
      "::ffff:192.168.0.1",
      "unknown",
      "",
      "8.8.8",
      "8.8.8.8.8",
    ]
  ) {
    assert.equal(geo.lookup(a), null, a);
  }
  assert.deepEqual(publicAddress("172.32.0.1"), { address: "172.32.0.1", family: "v4" });
});

Deno.test("geo: the world outline is countries of closed [lon, lat] rings, rounded, and built once", () => {
  const world = geo.world();
  assert.equal(geo.world(), world);
  assert.equal(world.precision, 1);
  assert.ok(world.countries.length > 150, `${world.countries.length} countries`);
  const usa = world.countries.find((c) => c.id === "840");
  assert.equal(usa?.name, "United States of America");
  for (const country of world.countries) {
    assert.ok(country.rings.length > 0, country.name);
    for (const ring of country.rings) {
      assert.equal(ring.length % 2, 0);
      assert.ok(ring.length >= 6, country.name);
      // Closed: world-atlas rings end where they start.
      assert.deepEqual(ring.slice(-2), ring.slice(0, 2), country.name);
      for (let i = 0; i < ring.length; i += 2) {
        if (i > 0 && country.name !== "Antarctica") {
          assert.ok(Math.abs(ring[i]! - ring[i - 2]!) <= 180, `${country.name} crosses the map`);
        }
        const lon = ring[i]!, lat = ring[i + 1]!;
        assert.ok(Math.abs(lon) <= 180 && Math.abs(lat) <= 90, `${country.name} ${lon},${lat}`);
        assert.equal(Math.round(lon * 10) / 10, lon);
      }
    }
  }
  // Russia's far east, cut at 180°, is a ring of its own west of -180's edge.
  const russia = world.countries.find((c) => c.name === "Russia")!;
  assert.ok(russia.rings.some((r) => r.every((v, i) => i % 2 === 1 || v < -160)));
  const bytes = new TextEncoder().encode(JSON.stringify(world)).length;
  assert.ok(bytes < 150_000, `${bytes} bytes`);
});
