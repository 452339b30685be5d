import assert from "node:assert/strict";
import { pathPattern } from "./not_found.ts";

Deno.test("Hono paths become anchored patterns: params, custom params, optional params, wildcards", () => {
  const cases: Array<[string, string[], string[]]> = [
    ["/user/:name", ["/user/node1"], ["/user", "/user/node1/", "/user/a/b", "/users/x"]],
    ["/v1/nodes/:id/eth_stats", ["/v1/nodes/a-1/eth_stats"], ["/v1/nodes/a/system_stats"]],
    ["/n/:id{[0-9]+}", ["/n/42"], ["/n/x"]],
    ["/o/:id?", ["/o/", "/o/x"], ["/o/x/y"]],
    ["/assets/*", ["/assets/app.js", "/assets/a/b"], ["/asset"]],
    ["/a.b", ["/a.b"], ["/axb"]],
  ];
  for (const [path, yes, no] of cases) {
    const pattern = pathPattern(path);
    for (const p of yes) assert.ok(pattern.test(p), `${path} matches ${p}`);
    for (const p of no) assert.ok(!pattern.test(p), `${path} does not match ${p}`);
  }
});
