import assert from "node:assert/strict";
import { agentIdOf, agentKey } from "./activity.ts";

Deno.test("activity: any agent id maps to a valid KV key and back", () => {
  for (
    const id of ["agent-1", "node.with.dots", "spaces and * > wildcards", "ünïcødé 🚀", "a".repeat(256), "="]
  ) {
    const key = agentKey(id);
    assert.match(key, /^[A-Za-z0-9_-]+$/);
    assert.equal(agentIdOf(key), id);
  }
});
