import assert from "node:assert/strict";
import { createAgentIdLimit, openAgentIdsFile } from "./agent_ids.ts";

const HOUR = 3_600_000;

Deno.test("agent ids: a user holds at most maxPerUser ids; known ones stay admitted", () => {
  const limit = createAgentIdLimit({ maxPerUser: 3, forgetAfterMs: HOUR });
  for (const id of ["a", "b", "c"]) assert.equal(limit.admit("alice", id, 0), true);
  assert.equal(limit.admit("alice", "d", 1000), false);
  assert.equal(limit.admit("alice", "a", 1000), true, "an id it holds");
  assert.equal(limit.admit("bob", "d", 1000), true, "another user has its own bound");
  assert.equal(limit.admit("bob", "a", 1000), true, "ids are not bound to users");
  assert.deepEqual(limit.stats(), { ids: 5, users: 2, refused: 1 });
});

Deno.test("agent ids: the shared secret's nodes share one set", () => {
  const limit = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
  assert.equal(limit.admit(null, "n1", 0), true);
  assert.equal(limit.admit(null, "n2", 0), true);
  assert.equal(limit.admit(null, "n3", 0), false);
  assert.equal(limit.admit("n3", "n3", 0), true, "a user of any name is not the shared set");
});

Deno.test("agent ids: an id not reported under for forgetAfterMs frees its place", () => {
  const limit = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
  limit.admit("alice", "a", 0);
  limit.admit("alice", "b", 10 * 60_000);
  // a keeps reporting (refreshed once a sixteenth of the window has passed), b goes quiet
  for (let t = 0; t <= HOUR + 9 * 60_000; t += 60_000) assert.equal(limit.admit("alice", "a", t), true);
  const late = 10 * 60_000 + HOUR - 1000;
  assert.equal(limit.admit("alice", "c", late), false, "b still counts a second before its hour");
  assert.equal(limit.retryAfterSeconds("alice", late), 1);
  assert.equal(limit.admit("alice", "c", 10 * 60_000 + HOUR), true, "b forgotten");
  assert.equal(limit.admit("alice", "a", 10 * 60_000 + HOUR + 1), true, "a was kept by its reports");
  assert.equal(limit.stats().ids, 2);
});

Deno.test("agent ids: Retry-After is the time until the oldest id is forgotten", () => {
  const limit = createAgentIdLimit({ maxPerUser: 1, forgetAfterMs: HOUR });
  limit.admit("alice", "a", 0);
  assert.equal(limit.admit("alice", "b", 1000), false);
  assert.equal(limit.retryAfterSeconds("alice", 1000), 3599);
  assert.equal(limit.retryAfterSeconds("nobody", 1000), 1);
});

Deno.test("agent ids: the sweep forgets quiet ids and users left with none", () => {
  const limit = createAgentIdLimit({ maxPerUser: 10, forgetAfterMs: HOUR });
  limit.admit("alice", "a", 0);
  limit.admit("bob", "b", 0);
  limit.admit("bob", "c", HOUR / 2);
  limit.sweep(HOUR);
  assert.deepEqual(limit.stats(), { ids: 1, users: 1, refused: 0 });
  limit.sweep(2 * HOUR);
  assert.deepEqual(limit.stats(), { ids: 0, users: 0, refused: 0 });
});

Deno.test("agent ids: a deleted user's ids are forgotten, by forgetUser or by the sweep", () => {
  const limit = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
  for (const user of ["alice", "bob", "carol"]) {
    limit.admit(user, "a", 0);
    limit.admit(user, "b", 0);
  }
  limit.admit(null, "s", 0);
  const before = limit.changes;
  limit.forgetUser("alice");
  assert.ok(limit.changes > before, "a save is due");
  assert.equal(limit.admit("alice", "c", 1), true, "re-created under the name: room again");
  assert.equal(limit.admit("alice", "d", 1), true);
  limit.forgetUser("nobody");
  // bob was deleted on another instance: only the users in memory say so
  limit.sweep(2, (user) => user !== "bob");
  assert.deepEqual(
    limit.stats(),
    { ids: 5, users: 3, refused: 0 },
    "alice 2, carol 2, the shared secret's 1",
  );
  assert.equal(limit.admit("bob", "c", 3), true);
  assert.equal(limit.admit("carol", "c", 3), false, "carol still holds hers");
});

Deno.test("agent ids: maxPerUser 0 admits everything and keeps nothing", () => {
  const limit = createAgentIdLimit({ maxPerUser: 0, forgetAfterMs: HOUR });
  for (let i = 0; i < 1000; i++) assert.equal(limit.admit("alice", `id-${i}`, 0), true);
  assert.deepEqual(limit.stats(), { ids: 0, users: 0, refused: 0 });
});

Deno.test("agent ids: refusals are logged at most once a minute per user", () => {
  const lines: string[] = [];
  const limit = createAgentIdLimit({ maxPerUser: 1, forgetAfterMs: HOUR, log: (line) => lines.push(line) });
  limit.admit("alice", "a", 0);
  limit.admit(null, "s", 0);
  for (let t = 0; t < 60_000; t += 1000) limit.admit("alice", `b-${t}`, t);
  limit.admit(null, "t", 1);
  const tail = " raise agentIds.maxPerUser, or a place frees when one of its ids has not reported for " +
    "agentIds.forgetAfterMs (logged at most once a minute per user)";
  assert.deepEqual(lines, [
    `user alice: 1 agent ids held (agentIds.maxPerUser), refused a new one, "b-0";${tail}`,
    `the ethstats shared secret's nodes: 1 agent ids held (agentIds.maxPerUser), refused a new one, "t";${tail}`,
  ]);
  limit.admit("alice", "c", 60_000);
  assert.equal(lines.length, 3);
  assert.match(lines[2]!, /refused a new one, "c", and 59 more since the last such line;/);
  assert.equal(limit.stats().refused, 62);
});

Deno.test("agent ids: a snapshot taken back keeps each user's newest maxPerUser ids and drops forgotten ones", () => {
  const limit = createAgentIdLimit({ maxPerUser: 3, forgetAfterMs: HOUR });
  limit.admit("alice", "old", 0);
  limit.admit("alice", "a", HOUR / 2);
  limit.admit("alice", "b", HOUR / 2 + 1);
  limit.admit(null, "s", HOUR / 2);
  const before = limit.changes;
  const snapshot = limit.snapshot();
  assert.deepEqual(snapshot, [["alice", [["old", 0], ["a", HOUR / 2], ["b", HOUR / 2 + 1]]], ["", [[
    "s",
    HOUR / 2,
  ]]]]);
  assert.ok(before >= 4);
  const again = createAgentIdLimit({ maxPerUser: 1, forgetAfterMs: HOUR });
  again.restore(snapshot, HOUR); // "old" forgotten by now; one place each
  assert.deepEqual(again.snapshot(), [["alice", [["b", HOUR / 2 + 1]]], ["", [["s", HOUR / 2]]]]);
  assert.equal(again.admit("alice", "b", HOUR + 1), true);
  assert.equal(again.admit("alice", "a", HOUR + 1), false, "a was not taken back: no place");
  assert.equal(again.stats().ids, 2);
});

Deno.test("agent ids: the file keeps them across a restart; a file the service did not write is left out, logged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "poa-agent-ids-" });
  const path = `${dir}/agent-ids.json`;
  const logs: string[] = [];
  try {
    const first = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
    const file = await openAgentIdsFile(first, path, (line) => logs.push(line));
    first.admit("alice", "a1", Date.now());
    first.admit("alice", "a2", Date.now());
    await file.save();
    const mtime = (await Deno.stat(path)).mtime;
    await file.save(); // unchanged: not written again
    assert.deepEqual((await Deno.stat(path)).mtime, mtime);
    const second = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
    await openAgentIdsFile(second, path, (line) => logs.push(line));
    assert.equal(second.admit("alice", "a3", Date.now()), false, "the places are taken after the restart");
    assert.equal(second.admit("alice", "a1", Date.now()), true);
    await Deno.writeTextFile(path, '{"edited": true}');
    const third = createAgentIdLimit({ maxPerUser: 2, forgetAfterMs: HOUR });
    await openAgentIdsFile(third, path, (line) => logs.push(line));
    assert.equal(third.stats().ids, 0);
    assert.deepEqual(logs, [
      `warning: ${path} is not a file of agent ids this service wrote; left out (every place is free)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
