import assert from "node:assert/strict";
import { freePort } from "./ports.ts";

Deno.test("freePort: ports below the kernel's ephemeral range, free, never the same twice", () => {
  const below = Number(
    Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0],
  );
  const ports = Array.from({ length: 200 }, () => freePort());
  assert.equal(new Set(ports).size, 200);
  for (const port of ports) {
    assert.ok(port >= 10_000 && port < below, `${port}`);
    Deno.listen({ hostname: "127.0.0.1", port }).close(); // still free
  }
});
