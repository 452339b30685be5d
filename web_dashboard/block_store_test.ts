import assert from "node:assert/strict";
import type postgres from "postgres";
import type { Message } from "../core/message.ts";
import { migrate } from "../db/migrate.ts";
import { reportMessage } from "../tests/support/fixtures.ts";
import { startTestPostgres, type TestPostgres } from "../tests/support/postgres.ts";
import { type BlockStore, createBlockStore, startBlockPersistence } from "./block_store.ts";
import { createWebState } from "./state.ts";

function blockReport(agentId: string, number: number, receivedAt: number): Message {
  return reportMessage(agentId, {
    type: "block",
    body: {
      number,
      hash: `0x${number.toString(16)}`,
      parentHash: `0x${(number - 1).toString(16)}`,
      timestamp: 1_700_000_000 + number * 5,
      miner: "0x1111111111111111111111111111111111111111",
      gasUsed: 21_000,
      gasLimit: "0x7a1200",
      difficulty: "340282366920938463463374607431768211454",
      transactions: ["0xa"],
      uncles: [],
    },
  }, { receivedAt });
}

async function rows(sql: postgres.Sql, table: string): Promise<number> {
  const [row] = await sql<{ count: number }[]>`select count(*)::int as count from ${sql(table)}`;
  return row!.count;
}

/** Runs `fn` on a fresh, migrated test database, closed afterwards. */
async function withDatabase(fn: (pg: TestPostgres) => Promise<void>): Promise<void> {
  const pg = await startTestPostgres();
  try {
    await migrate(pg.sql);
    await fn(pg);
  } finally {
    await pg.close();
  }
}

const newState = () => createWebState({ maxNodes: 100, maxBlocks: 50, removeInactiveAfterMs: 60_000 });

const PERSISTENCE = { intervalMs: 60_000, limit: 50, nodeLimit: 100, id: "web" };

/** Saves `state`'s blocks in `store` (read back first), on a timer the tests never wait for: they flush. */
const persisting = (state: ReturnType<typeof newState>, store: BlockStore) =>
  startBlockPersistence(state, () => Promise.resolve(store), PERSISTENCE);

/** Block `number` of another branch (hash 0xf<number>), its parent `parentHash`. */
function forkReport(agentId: string, number: number, parentHash: string, receivedAt: number): Message {
  return reportMessage(agentId, {
    type: "block",
    body: { number, hash: `0xf${number}`, parentHash, transactions: [], uncles: [] },
  }, { receivedAt });
}

Deno.test("recent blocks and their propagation survive a restart through Postgres; a failed save is retried", () =>
  withDatabase(async (pg) => {
    const t0 = Date.UTC(2026, 0, 1);
    const before = newState();
    for (let n = 100; n < 110; n++) {
      before.apply(blockReport("first", n, t0 + n * 5000));
      before.apply(blockReport("second", n, t0 + n * 5000 + 300));
      before.apply(blockReport("slow", n, t0 + n * 5000 + 2500));
    }
    // The store is down at first: nothing is lost, it is saved on a later tick.
    let down = true;
    const store = createBlockStore(pg.sql, "web_blocks");
    const flaky = (): Promise<BlockStore> =>
      down ? Promise.reject(new Error("connection refused")) : Promise.resolve(store);
    const persistence = startBlockPersistence(before, flaky, PERSISTENCE);
    await persistence.flush();
    assert.equal(persistence.stats().blocks_save_failed, 1);
    down = false;
    await persistence.flush();
    assert.equal(persistence.stats().blocks_saved, 10);
    // A later report changes a stored block: it is saved again, not duplicated.
    before.apply(blockReport("late", 109, t0 + 109 * 5000 + 7000));
    await persistence.close();
    assert.equal(await rows(pg.sql, "web_blocks"), 10);

    const after = newState();
    const restored = persisting(after, store);
    await restored.flush();
    assert.equal(restored.stats().blocks_restored, 10);
    assert.deepEqual(after.blocks(), before.blocks());
    assert.deepEqual(after.propagation(), before.propagation());
    assert.deepEqual(after.propagation().counts, [10, 0, 10, 0, 0, 10, 1]);
    const top = after.blocks(1)[0]!;
    assert.equal(top.reports, 4);
    assert.equal(top.gasLimit, 8_000_000);
    assert.equal(top.difficulty, 340282366920938463463374607431768211454);
    assert.equal(top.firstSeenBy, "first");
    // Restored blocks are not saved back as changes; new reports are.
    assert.deepEqual(after.takeDirtyBlocks(), []);
    after.apply(blockReport("first", 110, t0 + 110 * 5000));
    assert.deepEqual(after.takeDirtyBlocks().map((b) => b.number), [110]);
    await restored.close();
  }));

const information = (agentId: string, name: string, node: string) =>
  reportMessage(agentId, {
    type: "information",
    body: { name, node, coinbase: "0x11", ignored: { deep: 1 } },
  });
const latency = (agentId: string) => reportMessage(agentId, { type: "latency", body: { latency: 4 } });

Deno.test("nodes' information survives a restart through Postgres: a node that reports before it resends it shows its name and client at once, newer information wins, the table keeps the newest nodeLimit", () =>
  withDatabase(async (pg) => {
    const store = createBlockStore(pg.sql, "web_blocks");
    const before = newState();
    const first = persisting(before, store);
    await first.flush();
    before.apply(information("poa-1", "Validator 1", "Parity//v1.11.8"));
    before.apply(information("poa-2", "Validator 2\0\ud800", "Parity//v1.11.8")); // NUL, lone surrogate
    before.apply(information("poa-1", "Validator One", "Parity//v2.0.0")); // the latest is saved
    await first.close();
    assert.equal(first.stats().nodes_saved, 2);

    const after = newState();
    after.apply(latency("poa-2")); // reported before the read back: given its information then
    const restored = persisting(after, store);
    await restored.flush();
    assert.equal(restored.stats().nodes_restored, 2);
    assert.deepEqual(after.node("poa-2")!.last.information, {
      name: "Validator 2\ufffd",
      node: "Parity//v1.11.8",
      coinbase: "0x11",
    });
    assert.equal(after.node("poa-1"), undefined); // not shown before it reports
    after.apply(latency("poa-1"));
    assert.deepEqual(after.node("poa-1")!.last.information, {
      name: "Validator One",
      node: "Parity//v2.0.0",
      coinbase: "0x11",
    });
    // Information reported again replaces it, and is saved.
    after.apply(information("poa-1", "Validator 1b", "Parity//v2.0.1"));
    assert.equal(after.node("poa-1")!.last.information!["name"], "Validator 1b");
    await restored.flush();
    const [row] = await pg.sql<{ information: Record<string, unknown> }[]>`
      select information from web_nodes where agent_id = 'poa-1'`;
    assert.equal(row!.information["name"], "Validator 1b");

    // At most nodeLimit rows, the newest: pruned at start and after as many saves.
    const small = startBlockPersistence(
      newState(),
      () => Promise.resolve(store),
      { ...PERSISTENCE, nodeLimit: 1 },
    );
    await small.flush();
    assert.equal(await rows(pg.sql, "web_nodes"), 1);
    assert.deepEqual((await store.loadNodes(5)).map(([id]) => id), ["poa-1"]);
    await small.close();
    await restored.close();
  }));

const statistics = (agentId: string, peers: number) =>
  reportMessage(agentId, {
    type: "statistics",
    body: { active: true, mining: false, peers, gasPrice: "1000000000", uptime: 100, syncing: false },
  });

Deno.test("nodes' statistics survive a restart through Postgres (the POA agent sends them only when they change): held back between saves, all saved at a graceful stop, a row with statistics only", () =>
  withDatabase(async (pg) => {
    const store = createBlockStore(pg.sql, "web_blocks");
    const before = newState();
    const first = persisting(before, store);
    await first.flush();
    before.apply(information("poa-1", "Validator 1", "Parity//v1.11.8"));
    before.apply(statistics("poa-1", 5));
    before.apply(statistics("poa-2", 7)); // never sent its information (yet)
    await first.flush();
    before.apply(statistics("poa-1", 6)); // within the minute: held back at the next tick
    await first.flush();
    const peersStored = async () =>
      Object.fromEntries(
        (await pg.sql<{ agent_id: string; peers: number | null }[]>`
          select agent_id, (statistics->>'peers')::int as peers from web_nodes order by agent_id`)
          .map((row) => [row.agent_id, row.peers]),
      );
    assert.deepEqual(await peersStored(), { "poa-1": 5, "poa-2": 7 });
    await first.close(); // a graceful stop saves what was held back
    assert.deepEqual(await peersStored(), { "poa-1": 6, "poa-2": 7 });

    const after = newState();
    const restored = persisting(after, store);
    await restored.flush();
    after.apply(latency("poa-1"));
    after.apply(latency("poa-2"));
    assert.deepEqual(after.node("poa-1")!.last.statistics, {
      active: true,
      mining: false,
      peers: 6,
      gasPrice: "1000000000",
      uptime: 100,
      syncing: false,
    });
    assert.equal(after.node("poa-1")!.last.information!["name"], "Validator 1");
    assert.equal(after.node("poa-2")!.last.statistics!["peers"], 7);
    assert.equal(after.node("poa-2")!.last.information, undefined);
    // Statistics reported since the start win over the stored ones.
    after.apply(statistics("poa-1", 8));
    assert.equal(after.node("poa-1")!.last.statistics!["peers"], 8);
    await restored.close();
    assert.deepEqual(await peersStored(), { "poa-1": 8, "poa-2": 7 });
  }));

Deno.test("a block store on another table creates it like web_blocks; only the ring's size is read back", () =>
  withDatabase(async (pg) => {
    const state = newState();
    for (let n = 1; n <= 30; n++) state.apply(blockReport("a", n, 1000 * n));
    const store = createBlockStore(pg.sql, "web_blocks_testnet");
    await store.save(state.takeDirtyBlocks());
    const loaded = await store.load(5);
    assert.deepEqual(loaded.map((b) => b.number), [30, 29, 28, 27, 26]);
    const small = createWebState({ maxNodes: 10, maxBlocks: 3, removeInactiveAfterMs: 1000 });
    small.restoreBlocks(await store.load(30));
    assert.deepEqual(small.blocks().map((b) => b.number), [30, 29, 28], "the oldest are left out");
    assert.equal(await rows(pg.sql, "web_blocks"), 0);
  }));

Deno.test("the stored blocks follow the ring: those it pushed out or dropped (a reset chain) leave the table", () =>
  withDatabase(async (pg) => {
    let failDeletes = 0;
    const real = createBlockStore(pg.sql, "web_blocks");
    const store: BlockStore = {
      ...real,
      deleteOutside: (below, above) =>
        failDeletes-- > 0 ? Promise.reject(new Error("connection lost")) : real.deleteOutside(below, above),
    };
    const clock = { now: 1000 };
    const state = createWebState({
      maxNodes: 100,
      maxBlocks: 50,
      removeInactiveAfterMs: 60_000,
      now: () => clock.now,
    });
    const persistence = persisting(state, store);
    await persistence.flush(); // the read back at start
    // Another instance's row above what this one has: never deleted by this one.
    const other = newState();
    other.apply(blockReport("other", 2_000, 1000));
    await store.save(other.takeDirtyBlocks());
    for (let n = 1001; n <= 1080; n++) state.apply(blockReport("a", n, 1000 * n));
    await persistence.flush();
    const stored = () => pg.sql<{ number: string }[]>`select number from web_blocks order by number`;
    const numbers = async () => (await stored()).map((r) => Number(r.number));
    assert.deepEqual(await numbers(), [...Array.from({ length: 50 }, (_, i) => 1031 + i), 2_000]);
    // The chain is reset: its node leaves, a new one starts low; once chainResetAfterMs has passed
    // the old chain's blocks are gone from the ring, then from the table.
    state.checkChain();
    state.inactive("a");
    state.apply(blockReport("b", 5, 2_000_000));
    state.checkChain();
    clock.now += 300_000;
    state.checkChain();
    for (let n = 6; n <= 8; n++) state.apply(blockReport("b", n, 2_000_000 + n));
    // The first delete after the reset fails (a connection lost): the next one still deletes the
    // dead chain's rows (before, their bound was taken and lost: read back at every start).
    failDeletes = 1;
    await persistence.flush();
    assert.equal(persistence.stats().blocks_save_failed, 1);
    await persistence.flush();
    assert.deepEqual(await numbers(), [6, 7, 8]);
    await persistence.close();
  }));

Deno.test("a reorganisation reaches the table: the replaced block's row takes the new hash, the dead branch's tip is deleted", () =>
  withDatabase(async (pg) => {
    const state = newState();
    const store = createBlockStore(pg.sql, "web_blocks");
    const persistence = persisting(state, store);
    await persistence.flush();
    for (let n = 100; n <= 110; n++) {
      state.apply(blockReport("a", n, 1000 * n));
      state.apply(blockReport("b", n, 1000 * n + 10));
    }
    await persistence.flush();
    // Another block 109 (its parent 108): both nodes go over to it, 110 is on no node's chain.
    for (const id of ["a", "b"]) state.apply(forkReport(id, 109, "0x6c", 200_000));
    await persistence.flush();
    const stored = await pg.sql<{ number: string; hash: string; reports: number }[]>`
    select number, hash, reports from web_blocks where number >= 108 order by number`;
    assert.deepEqual(stored.map((r) => [Number(r.number), r.hash, r.reports]), [[108, "0x6c", 2], [
      109,
      "0xf109",
      1,
    ]]);
    await persistence.close();
    // Read back after a restart: the new branch, not the dead one.
    const after = newState();
    const again = persisting(after, store);
    await again.flush();
    assert.deepEqual(after.blocks(3).map((b) => [b.number, b.hash]), [[109, "0xf109"], [108, "0x6c"], [
      107,
      "0x6b",
    ]]);
    await again.close();
  }));

Deno.test("a dead tip let go and reported again before the next save stays in the table", () =>
  withDatabase(async (pg) => {
    const state = newState();
    const store = createBlockStore(pg.sql, "web_blocks");
    const persistence = persisting(state, store);
    await persistence.flush();
    for (let n = 100; n <= 104; n++) for (const id of ["a", "b"]) state.apply(blockReport(id, n, 1000 * n));
    await persistence.flush();
    // Both nodes go over to another 103 (104 let go as the dead tip), then back to the first branch's 104.
    for (const id of ["a", "b"]) state.apply(forkReport(id, 103, "0x66", 200_000));
    for (const id of ["a", "b"]) state.apply(blockReport(id, 104, 201_000));
    await persistence.flush();
    const stored = await pg.sql<{ number: string }[]>`select number from web_blocks order by number`;
    // Before: 104 was saved, then deleted by its (number, hash) as the dead tip, though the ring keeps it.
    assert.deepEqual(stored.map((r) => Number(r.number)), [100, 101, 102, 103, 104]);
    assert.ok(state.blocks().some((b) => b.number === 104));
    await persistence.close();
  }));
