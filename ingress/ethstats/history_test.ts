import assert from "node:assert/strict";
import { type BlockLink, createHistoryBackfill, HISTORY_CHUNK, type HistoryPeer } from "./history.ts";

interface Peer extends HistoryPeer {
  agentId: string;
  user: string | null;
  net: string;
  headBlock: number | null;
  canUpdateHistory: boolean;
  synced: boolean;
}

function peer(net = "1", canUpdateHistory = true, agentId: string = crypto.randomUUID()): Peer {
  return { agentId, user: "node-user", net, headBlock: null, canUpdateHistory, synced: false };
}

/** Blocks `numbers` of one chain (hash "0x<n>", parent "0x<n-1>"). */
const links = (numbers: number[]): BlockLink[] =>
  numbers.map((n) => ({ number: n, hash: `0x${n}`, parentHash: `0x${n - 1}` }));

/** The peer reports block `n` (its head moves first, as the handler does). */
function report(
  backfill: ReturnType<typeof createHistoryBackfill<Peer>>,
  p: Peer,
  n: number,
  now = 0,
  block: BlockLink = links([n])[0]!,
) {
  p.headBlock = Math.max(p.headBlock ?? 0, n);
  return backfill.block(p, block, now);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

Deno.test("history: a first head asks for the chunk below it, oldest first; one request per network", () => {
  const h = createHistoryBackfill<Peer>({ limit: 20, timeoutMs: 1000 });
  const a = peer();
  const b = peer();
  assert.deepEqual(report(h, a, 100), range(100 - HISTORY_CHUNK, 99));
  assert.equal(report(h, b, 100), null, "a request is outstanding on this network");
  assert.deepEqual(h.history(a, links(range(90, 99)), 0), range(80, 89), "answered: the next chunk follows");
  assert.equal(
    h.history(a, links([85, 86, 87, 88, 89]), 0),
    null,
    "what it did not send it lacks: not asked again",
  );
  assert.deepEqual(
    report(h, b, 101),
    [81, 82, 83, 84],
    "another node is asked what it lacked (80 left the window)",
  );
  assert.equal(h.history(b, links(range(81, 84)), 0), null, "the window is complete");
  assert.equal(report(h, b, 102), null, "one new head on a complete window keeps it complete");
  assert.deepEqual(report(h, b, 105), [103, 104], "a jump leaves a gap that is asked for");
  assert.deepEqual(h.stats(), {
    history_requests: 4,
    history_timeouts: 0,
    history_reorganisations: 0,
    history_restarts: 0,
  });
});

Deno.test("history: a reply's blocks never move the network's head: an unasked one far ahead stops nobody's backfill", () => {
  const h = createHistoryBackfill<Peer>({ limit: 20, timeoutMs: 1000 });
  const honest = peer();
  const rogue = peer();
  assert.deepEqual(report(h, honest, 100), range(90, 99));
  assert.equal(h.history(rogue, links([Number.MAX_SAFE_INTEGER]), 0), null); // unasked: nothing to follow
  assert.deepEqual(
    h.history(honest, links(range(90, 99)), 0),
    range(80, 89),
    "the window is still below 100",
  );
});

Deno.test("history: only up to the peer's own head, per network, never for a peer that cannot", () => {
  const h = createHistoryBackfill<Peer>({ limit: 50, timeoutMs: 1000 });
  const ahead = peer();
  assert.deepEqual(report(h, ahead, 200), range(190, 199));
  h.forget(ahead);
  const behind = peer();
  assert.deepEqual(report(h, behind, 170), range(160, 169));
  assert.deepEqual(report(h, peer("5"), 200), range(190, 199), "another network has its own record");
  // canUpdateHistory false (Nethermind says so, and answers): asked once its stats say it is
  // synced with peers, as eth-netstats' Node.canUpdate does.
  const light = peer("7", false);
  assert.equal(report(h, light, 300), null);
  light.synced = true;
  assert.deepEqual(report(h, light, 301), range(290, 299));
});

Deno.test("history: an unanswered request times out; a late answer still counts as blocks the network has", () => {
  const h = createHistoryBackfill<Peer>({ limit: 5, timeoutMs: 300 });
  const silent = peer();
  const helper = peer();
  assert.deepEqual(report(h, silent, 50, 0), range(45, 49));
  assert.equal(report(h, helper, 50, 299), null);
  assert.deepEqual(report(h, helper, 50, 300), range(45, 49));
  assert.equal(h.history(silent, links(range(45, 48)), 310), null, "not the peer asked now");
  assert.equal(h.history(helper, links([49]), 320), null, "49 was the last one missing");
  assert.deepEqual(h.stats(), {
    history_requests: 2,
    history_timeouts: 1,
    history_reorganisations: 0,
    history_restarts: 0,
  });
});

Deno.test("history: limit 0 never asks; the network reported on least recently is forgotten past maxNetworks", () => {
  assert.equal(report(createHistoryBackfill<Peer>({ limit: 0, timeoutMs: 1 }), peer(), 500), null);
  const h = createHistoryBackfill<Peer>({ limit: 5, timeoutMs: 1000, maxNetworks: 2 });
  const first = peer("a");
  assert.deepEqual(report(h, first, 10), range(5, 9));
  h.history(first, links(range(5, 9)), 0);
  assert.equal(report(h, first, 10), null, "complete");
  report(h, peer("b"), 10);
  assert.equal(report(h, first, 11), null, "a reports on, after b was created");
  report(h, peer("c"), 10); // b goes, not a
  assert.equal(report(h, peer("a"), 11), null, "network a is remembered");
  report(h, peer("d"), 10);
  report(h, peer("e"), 10);
  assert.deepEqual(report(h, peer("a"), 11), range(6, 10), "network a was forgotten, so asked again");
});

Deno.test("history: 1,100 made-up network names between a busy network's blocks do not make it forget what it has", () => {
  const h = createHistoryBackfill<Peer>({ limit: 10, timeoutMs: 1000 });
  const honest = peer("1");
  let n = 100;
  assert.deepEqual(report(h, honest, n), range(90, 99));
  assert.equal(h.history(honest, links(range(90, 99)), 0), null);
  for (let i = 0; i < 1100; i++) {
    report(h, peer(`made-up-${i}`), 5);
    // The honest network's next block every 100 made-up names: never asked again for its window.
    if (i % 100 === 99) assert.equal(report(h, honest, ++n), null, `asked again after ${i + 1} names`);
  }
});

Deno.test("history: a node whose answer is too large to take is asked half as many blocks, down to one; one block too large is lacked, the node asked no more", () => {
  // go-ethereum sends the asked blocks whole (10 blocks of 11,000 transactions: 8.6 MB), Besu every
  // transaction whole: past the frame limit, the node is dropped. Before, each of its logins was
  // asked 10 again (the newest missing: the gap its reconnection left), dropped every time.
  const h = createHistoryBackfill<Peer>({ limit: 20, timeoutMs: 1000 });
  const login = () => peer("1", true, "besu"); // one node, logging in again after each drop
  let a = login();
  assert.deepEqual(report(h, a, 100), range(90, 99));
  for (const next of [range(95, 99), range(98, 99), [99]]) {
    h.unanswerable(a);
    h.forget(a); // its socket is closed
    a = login();
    assert.deepEqual(report(h, a, 100), next);
  }
  h.unanswerable(a); // block 99 alone is too large: settled, and this node is asked no more
  h.forget(a);
  a = login();
  assert.equal(report(h, a, 100), null, "each of its blocks would drop it once more");
  // Another node is asked whole chunks, 99 among them: only that node could not send it.
  assert.deepEqual(report(h, peer(), 100), range(90, 99));
  h.unanswerable(peer()); // not the peer asked: nothing changes
});

Deno.test("history: a block whose parent is not the block kept below it (a reorganisation) has that number asked again, down the new branch", () => {
  // go-ethereum reports only its new head after a reorganisation: 103 on a branch that replaced
  // 101-102. Before, 101-102 stayed settled with the dead branch's blocks.
  const h = createHistoryBackfill<Peer>({ limit: 5, timeoutMs: 1000 });
  const a = peer();
  assert.deepEqual(report(h, a, 100), range(95, 99));
  assert.equal(h.history(a, links(range(95, 99)), 0), null);
  for (const n of [101, 102]) assert.equal(report(h, a, n), null);
  const fork = (n: number, parent = `0x${n - 1}b`) => ({ number: n, hash: `0x${n}b`, parentHash: parent });
  assert.deepEqual(report(h, a, 103, 0, fork(103)), [102]);
  // Its answer's parent is not the kept 101 either: asked next; 101's parent is the kept 100.
  assert.deepEqual(h.history(a, [fork(102)], 0), [101]);
  assert.equal(h.history(a, [fork(101, "0x100")], 0), null);
  assert.equal(h.stats().history_reorganisations, 2);
  // The new branch goes on: nothing more to ask.
  assert.equal(report(h, a, 104, 0, fork(104, "0x103b")), null);
});

Deno.test("history: a lasting fork (two nodes going on on their own branches) has each number asked again once, not for ever", () => {
  const h = createHistoryBackfill<Peer>({ limit: 50, timeoutMs: 10_000 });
  const a = peer("1", true, "a");
  const b = peer("1", true, "b");
  const forkAt = 1000;
  const link = (branch: string, n: number): BlockLink => {
    const tag = (k: number) => (k >= forkAt ? branch : "");
    return { number: n, hash: `0x${n}${tag(n)}`, parentHash: `0x${n - 1}${tag(n - 1)}` };
  };
  let requests = 0;
  const answer = (p: Peer, branch: string, request: number[] | null) => {
    for (let r = request; r !== null; r = h.history(p, r.map((n) => link(branch, n)), 0)) requests++;
  };
  for (let n = 900; n < 1100; n++) {
    for (const [p, branch] of [[a, ""], [b, "b"]] as const) {
      answer(p, branch, report(h, p, n, 0, link(branch, n)));
    }
    if (n === 1049) requests = 0;
  }
  // Before: 5,000 one-block requests for these 50 blocks, never settling.
  assert.ok(requests <= 100, `${requests} history requests for 50 blocks of a lasting fork`);
});

Deno.test("history: a chain restarted far below a head nobody reports any more starts its record again (a test network keeping its id)", () => {
  const h = createHistoryBackfill<Peer>({ limit: 5, timeoutMs: 1000, restartAfterMs: 60_000 });
  const before = peer();
  assert.deepEqual(report(h, before, 100, 0), range(95, 99));
  assert.equal(h.history(before, links(range(95, 99)), 0), null);
  h.forget(before);
  const after = peer(); // its chain started again from 0
  assert.equal(report(h, after, 4, 1_000), null, "a node far behind a live head: nothing asked");
  // Before: the record kept head 100 for good, nothing below 95 was ever asked.
  assert.deepEqual(report(h, after, 5, 61_000), range(0, 4));
  assert.equal(h.stats().history_restarts, 1);
});

Deno.test("history: another user claiming a node's hello.id does not shrink that node's requests by its own oversized answers", () => {
  const h = createHistoryBackfill<Peer>({ limit: 20, timeoutMs: 1000 });
  const impostor = { ...peer("1", true, "victim"), user: "mallory" };
  assert.deepEqual(report(h, impostor, 100), range(90, 99));
  h.unanswerable(impostor);
  h.forget(impostor);
  const victim = { ...peer("1", true, "victim"), user: "victim-user" };
  assert.deepEqual(report(h, victim, 100), range(90, 99), "asked whole chunks still");
});

Deno.test("history: a node that answers every request empty does not keep a network's gaps empty; nodes of three users do", () => {
  const h = createHistoryBackfill<Peer>({ limit: 20, timeoutMs: 1000 });
  const as = (user: string | null, id: string): Peer => ({ ...peer("77", true, id), user });
  const empty = as("mallory", "m1");
  assert.deepEqual(report(h, empty, 110), range(100, 109));
  assert.deepEqual(h.history(empty, [], 0), range(90, 99), "the next chunk");
  assert.equal(h.history(empty, [], 0), null, "nothing more asked of it");
  assert.equal(report(h, empty, 110), null, "not asked again what it lacks");
  const honest = as("dave", "d1");
  assert.deepEqual(report(h, honest, 110), range(100, 109), "another user's node is asked (before: never)");
  assert.deepEqual(h.history(honest, links(range(100, 109)), 0), range(90, 99));
  // Numbers nobody sends: settled once nodes of three users answered without them.
  assert.deepEqual(h.history(honest, links(range(92, 99)), 0), null, "90 and 91 lacked by two users");
  const third = as("erin", "e1");
  assert.deepEqual(report(h, third, 110), [90, 91]);
  assert.equal(h.history(third, [], 0), null);
  assert.equal(report(h, as("frank", "f1"), 110), null, "settled: the window is complete");
  assert.equal(report(h, as("frank", "f1"), 111), null);
});

Deno.test("history: one user's nodes count as one user until sixteen of them lacked a number; the shared secret's each count", () => {
  const h = createHistoryBackfill<Peer>({ limit: 10, timeoutMs: 1000 });
  const fleet = (i: number): Peer => ({ ...peer("5", true, `fleet-${i}`), user: "fleet" });
  for (let i = 0; i < 16; i++) {
    const node = fleet(i);
    assert.deepEqual(report(h, node, 50), range(40, 49), `node ${i} of the fleet asked`);
    assert.equal(h.history(node, [], 0), null);
  }
  assert.equal(report(h, fleet(16), 50), null, "settled after sixteen");
  const shared = (i: number): Peer => ({ ...peer("6", true, `shared-${i}`), user: null });
  for (let i = 0; i < 3; i++) {
    const node = shared(i);
    assert.deepEqual(report(h, node, 50), range(40, 49));
    assert.equal(h.history(node, [], 0), null);
  }
  assert.equal(report(h, shared(3), 50), null, "three shared-secret nodes are three votes");
});
