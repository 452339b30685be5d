import assert from "node:assert/strict";
import { errorText } from "./error_text.ts";

Deno.test("errorText: a message with its causes on one line; a programming error keeps its stack", () => {
  const refused = new Error("fetch failed", { cause: new Error("Connection refused (os error 111)") });
  assert.equal(errorText(refused), "fetch failed: Connection refused (os error 111)");
  assert.equal(
    errorText(new RangeError("Invalid time value")).split("\n")[0],
    "RangeError: Invalid time value",
  );
  assert.ok(errorText(new TypeError("x is undefined")).includes("\n    at "), "a bug's stack");
  class PostgresError extends Error {
    override name = "PostgresError";
  }
  assert.equal(
    errorText(new PostgresError('relation "x" does not exist')),
    'PostgresError: relation "x" does not exist',
  );
  assert.equal(errorText("a string"), "a string");
  assert.ok(!errorText(refused).includes("\n"));
});
