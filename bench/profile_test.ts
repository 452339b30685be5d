import assert from "node:assert/strict";
import { summarizeHeapProfile, summarizeProfile } from "./profile.ts";

const frame = (functionName: string, lineNumber = 0) => ({
  functionName,
  url: new URL("../routes/protocol.ts", import.meta.url).href,
  lineNumber,
});

Deno.test("heap profile: self bytes per function, inclusive bytes once per path even through recursion", () => {
  // root → a (10) → b (5) → a (7, recursion) ; root → b (3)
  const head = {
    callFrame: frame("(root)"),
    selfSize: 0,
    children: [
      {
        callFrame: frame("a"),
        selfSize: 10,
        children: [{
          callFrame: frame("b", 4),
          selfSize: 5,
          children: [{ callFrame: frame("a"), selfSize: 7, children: [] }],
        }],
      },
      { callFrame: frame("b", 4), selfSize: 3, children: [] },
    ],
  };
  const s = summarizeHeapProfile(head);
  assert.equal(s.totalBytes, 25);
  const self = Object.fromEntries(s.self.map((f) => [f.name, f.bytes]));
  const incl = Object.fromEntries(s.inclusive.map((f) => [f.name, f.bytes]));
  assert.deepEqual(self, {
    "a routes/protocol.ts:1": 17,
    "b routes/protocol.ts:5": 8,
    "(root) routes/protocol.ts:1": 0,
  });
  assert.equal(incl["a routes/protocol.ts:1"], 22); // 10 + 5 + 7, the inner a not counted again
  assert.equal(incl["b routes/protocol.ts:5"], 15); // 5 + 7 under a, and 3 on its own
  assert.equal(incl["(root) routes/protocol.ts:1"], 25);
  assert.equal(s.self[0]!.name, "a routes/protocol.ts:1"); // heaviest first
});

Deno.test("cpu profile: self and inclusive time from the samples and their time deltas", () => {
  const s = summarizeProfile({
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2] },
      { id: 2, callFrame: frame("handler", 9), children: [3] },
      { id: 3, callFrame: frame("parse", 19) },
    ],
    samples: [2, 3, 3, 1],
    timeDeltas: [0, 1000, 1000, 1000],
    startTime: 0,
    endTime: 4000,
  });
  assert.equal(s.totalMs, 4);
  assert.deepEqual(s.self.map((f) => [f.name, f.ms]), [
    ["parse routes/protocol.ts:20", 2],
    ["handler routes/protocol.ts:10", 1],
    ["(root) routes/protocol.ts:1", 1],
  ]);
  assert.equal(s.inclusive.find((f) => f.name.startsWith("handler"))!.ms, 3);
});
