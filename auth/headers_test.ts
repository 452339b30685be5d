import assert from "node:assert/strict";
import { parseBasic, parseBearer } from "./headers.ts";

Deno.test("parseBasic reads user:password and keeps colons in the password", () => {
  assert.deepEqual(parseBasic("Basic " + btoa("alice:pa:ss")), { user: "alice", password: "pa:ss" });
  assert.deepEqual(parseBasic("basic " + btoa("a:b")), { user: "a", password: "b" });
});

Deno.test("parseBasic refuses malformed headers", () => {
  for (
    const h of [
      null,
      undefined,
      "",
      "Basic",
      "Basic ",
      "Bearer x",
      "Basic !!",
      "Basic " + btoa("nocolon"),
      "Basic " + btoa(":p"),
      "Basic " + btoa("u:"),
      "Basic " + "A".repeat(5000),
    ]
  ) assert.equal(parseBasic(h), null, String(h));
});

Deno.test("parseBearer reads the token and refuses junk", () => {
  assert.equal(parseBearer("Bearer a.b.c"), "a.b.c");
  for (const h of [null, "", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer " + "a".repeat(5000)]) {
    assert.equal(parseBearer(h), null, String(h));
  }
});
