/**
 * The web dashboard's recent blocks in Postgres (table `web_blocks`, db/migrations/0200): saved as
 * they change, read back at start, so charts, miners and the propagation histogram survive a
 * restart (eth-netstats keeps its blocks in memory only). With them, each node's latest
 * information and statistics (`web_nodes`, 0202 and 0203): names, clients and peers are there again
 * before nodes resend them.
 */
import type postgres from "postgres";
import { type BlockEntry, PROPAGATION_BINS_MS } from "./block_ring.ts";
import type { WebState } from "./state.ts";
import type { StoredNode } from "./stored_nodes.ts";

/** Rows written per statement at most (a whole ring after an outage is a few statements). */
const SAVE_CHUNK = 500;

export interface BlockStore {
  /** The `limit` highest blocks, highest first. */
  load(limit: number): Promise<BlockEntry[]>;
  /** Deletes the stored blocks numbered below `below` and above `above` (null: no bound). */
  deleteOutside(below: number | null, above: number | null): Promise<void>;
  /** Inserts or updates these blocks (by number: another hash there is replaced, a reorganisation). */
  save(blocks: BlockEntry[]): Promise<void>;
  /** Deletes these blocks where still stored with their hash (a dead branch's, block_ring.ts). */
  deleteBlocks(blocks: BlockEntry[]): Promise<void>;
  /** The `limit` nodes saved most recently: agent id, information, statistics (each may be null). */
  loadNodes(limit: number): Promise<Array<[string, unknown, unknown]>>;
  /** Inserts or replaces these nodes' information and statistics (each where given). */
  saveNodes(rows: Array<[string, StoredNode]>): Promise<void>;
  /** Deletes all but the `keep` nodes saved most recently. */
  pruneNodes(keep: number): Promise<void>;
}

interface BlockRow {
  number: string;
  hash: string | null;
  parent_hash: string | null;
  timestamp: string | null;
  miner: string | null;
  gas_used: string | null;
  gas_limit: string | null;
  difficulty: number | null;
  transaction_count: number | null;
  uncle_count: number | null;
  first_seen: Date;
  first_seen_by: string;
  reports: number;
  propagation: number[];
  /** Null in rows saved before the column (db/migrations/0201_web_blocks_peak.sql). */
  peak: number | null;
}

const orNull = (value: string | null) => (value === null ? null : Number(value));

function toEntry(row: BlockRow): BlockEntry {
  // A histogram written with other bins (an older version) is not comparable: start it afresh.
  const bins = PROPAGATION_BINS_MS.length + 1;
  const propagation = row.propagation.length === bins ? row.propagation : new Array(bins).fill(0);
  return {
    number: Number(row.number),
    hash: row.hash,
    parentHash: row.parent_hash,
    timestamp: orNull(row.timestamp),
    miner: row.miner,
    gasUsed: orNull(row.gas_used),
    gasLimit: orNull(row.gas_limit),
    difficulty: row.difficulty,
    transactionCount: row.transaction_count,
    uncleCount: row.uncle_count,
    firstSeen: row.first_seen.getTime(),
    firstSeenBy: row.first_seen_by,
    reports: row.reports,
    propagation,
    // Rows from before peaks were kept: the nodes counted in its propagation stand in.
    peak: row.peak ?? propagation.reduce((a, b) => a + b, 0),
  };
}

/** Strings Postgres text cannot hold (NUL) are dropped rather than failing the whole save. */
const text = (value: string | null) => (value === null || value.includes("\0") ? null : value);

/**
 * A node's report as jsonb takes it: NUL and lone surrogates (which jsonb refuses, failing the whole
 * save) out of every string, nested ones (statistics' `syncing`) included.
 */
function storable(report: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(report)) {
    out[key] = typeof value === "string"
      ? value.replaceAll("\0", "").toWellFormed()
      : value !== null && typeof value === "object"
      ? storable(value as Record<string, unknown>)
      : value;
  }
  return out;
}

function toRow(entry: BlockEntry) {
  return {
    number: entry.number,
    hash: text(entry.hash),
    parent_hash: text(entry.parentHash),
    timestamp: entry.timestamp,
    miner: text(entry.miner),
    gas_used: entry.gasUsed,
    gas_limit: entry.gasLimit,
    difficulty: entry.difficulty,
    transaction_count: entry.transactionCount,
    uncle_count: entry.uncleCount,
    first_seen: new Date(entry.firstSeen),
    first_seen_by: entry.firstSeenBy.replaceAll("\0", ""),
    reports: entry.reports,
    propagation: entry.propagation,
    peak: entry.peak,
  };
}

/**
 * A block store over `table` and `nodesTable` (created like `web_blocks` and `web_nodes` when they
 * are other names).
 */
export function createBlockStore(sql: postgres.Sql, table: string, nodesTable = "web_nodes"): BlockStore {
  let ready: Promise<void> | undefined;
  function prepare(): Promise<void> {
    ready ??= (async () => {
      if (table !== "web_blocks") {
        await sql`create table if not exists ${sql(table)} (like web_blocks including all)`;
        // One made like web_blocks before its later columns (migrations change web_blocks only).
        await sql`alter table ${sql(table)} add column if not exists peak int`;
      }
      if (nodesTable !== "web_nodes") {
        await sql`create table if not exists ${sql(nodesTable)} (like web_nodes including all)`;
        await sql`alter table ${sql(nodesTable)} add column if not exists statistics jsonb`;
        await sql`alter table ${sql(nodesTable)} alter column information drop not null`;
      }
    })().catch((err) => {
      ready = undefined;
      throw err;
    });
    return ready;
  }
  return {
    async load(limit) {
      await prepare();
      const rows = await sql<BlockRow[]>`
        select * from ${sql(table)} order by number desc limit ${limit}`;
      return rows.map(toEntry);
    },
    async deleteOutside(below, above) {
      if (below === null && above === null) return;
      await prepare();
      await sql`delete from ${sql(table)} where number < ${below ?? -1} or number > ${
        above ?? Number.MAX_SAFE_INTEGER
      }`;
    },
    async save(blocks) {
      if (blocks.length === 0) return;
      await prepare();
      for (let i = 0; i < blocks.length; i += SAVE_CHUNK) {
        const rows = blocks.slice(i, i + SAVE_CHUNK).map(toRow);
        await sql`
          insert into ${sql(table)} ${sql(rows)}
          on conflict (number) do update set
            hash = excluded.hash,
            parent_hash = excluded.parent_hash,
            timestamp = excluded.timestamp,
            miner = excluded.miner,
            gas_used = excluded.gas_used,
            gas_limit = excluded.gas_limit,
            difficulty = excluded.difficulty,
            transaction_count = excluded.transaction_count,
            uncle_count = excluded.uncle_count,
            first_seen = excluded.first_seen,
            first_seen_by = excluded.first_seen_by,
            reports = excluded.reports,
            propagation = excluded.propagation,
            peak = excluded.peak`;
      }
    },
    async deleteBlocks(blocks) {
      if (blocks.length === 0) return;
      await prepare();
      for (let i = 0; i < blocks.length; i += SAVE_CHUNK) {
        const chunk = blocks.slice(i, i + SAVE_CHUNK).filter((b) => b.hash !== null);
        if (chunk.length === 0) continue;
        await sql`
          delete from ${sql(table)} where (number, hash) in (
            select * from unnest(${chunk.map((b) => b.number)}::bigint[], ${
          chunk.map((b) => text(b.hash))
        }::text[]))`;
      }
    },
    async loadNodes(limit) {
      await prepare();
      const rows = await sql<{ agent_id: string; information: unknown; statistics: unknown }[]>`
        select agent_id, information, statistics from ${sql(nodesTable)}
        order by updated_at desc limit ${limit}`;
      return rows.map((row) => [row.agent_id, row.information, row.statistics] as [string, unknown, unknown]);
    },
    async saveNodes(rows) {
      if (rows.length === 0) return;
      await prepare();
      const updatedAt = new Date();
      const save = async (column: "information" | "statistics") => {
        const given = rows.filter(([agentId, row]) => row[column] !== undefined && !agentId.includes("\0"));
        for (let i = 0; i < given.length; i += SAVE_CHUNK) {
          const values = given.slice(i, i + SAVE_CHUNK).map(([agentId, row]) => ({
            agent_id: agentId,
            [column]: sql.json(storable(row[column]!) as postgres.JSONValue),
            updated_at: updatedAt,
          }));
          await sql`
            insert into ${sql(nodesTable)} ${sql(values)} on conflict (agent_id)
            do update set ${sql(column)} = excluded.${sql(column)}, updated_at = excluded.updated_at`;
        }
      };
      await save("information");
      await save("statistics");
    },
    async pruneNodes(keep) {
      await prepare();
      await sql`
        delete from ${sql(nodesTable)} where agent_id in (
          select agent_id from ${sql(nodesTable)} order by updated_at desc offset ${keep})`;
    },
  };
}

export interface BlockPersistenceOptions {
  /** How often changed blocks are saved (and, until it worked once, the stored ones read back). */
  intervalMs: number;
  /** Blocks read back at start (the ring's size). */
  limit: number;
  /** Nodes read back at start and kept in the table (the state's nodes). */
  nodeLimit: number;
  /** Name for log lines. */
  id: string;
}

/** Keeps a state's blocks in a store: read back once, then saved as they change. */
export interface BlockPersistence {
  /** Saves what changed since the last save (also run on the timer); `all`: held statistics too. */
  flush(all?: boolean): Promise<void>;
  /** Stops the timer after a last save of everything. */
  close(): Promise<void>;
  stats(): {
    blocks_restored: number;
    blocks_saved: number;
    blocks_save_failed: number;
    nodes_restored: number;
    nodes_saved: number;
  };
}

/**
 * Reads the stored blocks back into `state`, then saves the changed ones every `intervalMs`. An
 * unreachable store is retried on the next tick (what failed stays marked as changed, bounded by
 * the ring); the dashboard works meanwhile, from memory.
 */
export function startBlockPersistence(
  state: Pick<
    WebState,
    | "restoreBlocks"
    | "takeDirtyBlocks"
    | "markDirty"
    | "takeBlockBounds"
    | "takeDroppedBlocks"
    | "restoreNodes"
    | "takeDirtyNodes"
    | "markNodesDirty"
  >,
  store: () => Promise<BlockStore>,
  options: BlockPersistenceOptions,
): BlockPersistence {
  const counters = {
    blocks_restored: 0,
    blocks_saved: 0,
    blocks_save_failed: 0,
    nodes_restored: 0,
    nodes_saved: 0,
  };
  /** Rows saved since the table was last cut to `nodeLimit` (it is cut again after as many). */
  let savedSincePrune = Infinity;
  let restored = false;
  let failing = false;
  let running: Promise<void> | undefined;
  /** A dead branch's blocks to delete, kept until a delete works (at most the ring's size). */
  let dropped: BlockEntry[] = [];
  /** A dead chain's numbers to delete above (a chain reset), kept until a delete works. */
  let above: number | null = null;

  async function tick(all: boolean): Promise<void> {
    const pending = state.takeDirtyBlocks();
    const nodes = state.takeDirtyNodes(all);
    dropped = dropped.concat(state.takeDroppedBlocks()).slice(-options.limit);
    const bounds = state.takeBlockBounds();
    if (bounds.above !== null) above = Math.min(above ?? Infinity, bounds.above);
    try {
      const s = await store();
      if (!restored) {
        const entries = await s.load(options.limit);
        state.restoreBlocks(entries);
        const rows = await s.loadNodes(options.nodeLimit);
        state.restoreNodes(rows);
        restored = true;
        counters.blocks_restored = entries.length;
        counters.nodes_restored = rows.length;
      }
      // A dead branch's blocks first: one let go and reported again since is in `pending`, saved after.
      await s.deleteBlocks(dropped);
      dropped = [];
      await s.save(pending);
      counters.blocks_saved += pending.length;
      // The table holds what the ring holds: without this it grew by every block for good, and
      // kept a reset chain's higher numbers to be read back at every start. Only what this ring let
      // go (full: below its lowest; a dead chain's blocks: above the drop), so instances sharing
      // the table never delete a block another one saved first.
      await s.deleteOutside(bounds.below, above);
      above = null;
      await s.saveNodes(nodes);
      counters.nodes_saved += nodes.length;
      savedSincePrune += nodes.length;
      if (savedSincePrune >= options.nodeLimit) {
        await s.pruneNodes(options.nodeLimit); // at start, then after as many new rows
        savedSincePrune = 0;
      }
      if (failing) console.warn(`receiver ${options.id}: saving recent blocks works again`);
      failing = false;
    } catch (err) {
      state.markDirty(pending);
      state.markNodesDirty(nodes);
      counters.blocks_save_failed++;
      if (!failing) {
        console.warn(
          `receiver ${options.id}: recent blocks not saved (will retry): ${(err as Error).message}`,
        );
      }
      failing = true;
    }
  }

  /**
   * One tick at a time: a slow save is not overtaken by the next one. `all`: the statistics held
   * back too (stored_nodes.ts).
   */
  function flush(all = false): Promise<void> {
    running ??= tick(all).finally(() => running = undefined);
    return running;
  }

  const timer = setInterval(() => flush(), options.intervalMs);
  void flush(); // read back at once
  return {
    flush,
    async close() {
      clearInterval(timer);
      await running;
      await flush(true);
    },
    stats: () => ({ ...counters }),
  };
}
