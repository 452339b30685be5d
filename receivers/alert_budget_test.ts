import assert from "node:assert/strict";
import { createEpisodeBudget } from "./alert_budget.ts";

const HOUR = 3_600_000;

Deno.test("episode budget: a user's episodes per hour, each user its own; past it until the next hour, logged once an hour", () => {
  const lines: string[] = [];
  const budget = createEpisodeBudget(2, (line) => lines.push(line));
  assert.equal(budget.take("mallory", "m1", 0), true);
  assert.equal(budget.take("mallory", "m2", 10), true);
  assert.equal(budget.take("mallory", "m3", 20), HOUR, "until the hour that began at the first is over");
  assert.equal(budget.take("mallory", "m4", 30), HOUR);
  assert.equal(budget.take("dave", "d1", 30), true, "another user");
  assert.equal(budget.suppressed, 2);
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^user mallory's nodes opened 2 alert episodes within an hour .* until 1970-01-01T01:00:00\.000Z, the first of them node "m3"'s/,
  );
  assert.equal(budget.take("mallory", "m3", HOUR), true, "a new hour");
  assert.equal(budget.take("mallory", "m4", HOUR + 1), true);
  assert.equal(budget.take("mallory", "m5", HOUR + 2), 2 * HOUR);
  assert.equal(lines.length, 2);
});
