/**
 * Retention for a statistics table (`retentionDays` of the `eth_stats` and `system_stats`
 * receivers): rows whose `date` is older than the horizon are deleted, now and every
 * `pruneIntervalMs`, so the table stops growing once it holds that many days.
 *
 * - Deletes go in batches of `batchRows` (one short transaction each, a pause between them), so
 *   a first run on a table of years neither holds locks for long nor starves the inserts.
 * - The rows of a batch are found through a btree index on `date` (`<table>_date_idx`), which the
 *   first run creates when missing, concurrently: it reads the table once while the inserts go
 *   on. It costs each insert one more index entry, which is why it exists only with retention.
 *   (BRIN would be smaller, but its ranges only ever widen: once deleted pages are reused by new
 *   rows, every range holds old dates and every delete would read the whole table.)
 * - `for update skip locked`: the instances of a cluster, each with the receiver, prune side by
 *   side without waiting on each other's rows.
 * - A failure (Postgres away) is logged once per streak and counted; the next interval tries again.
 */
import type postgres from "postgres";
import { sleep, within } from "../core/delivery_policy.ts";

/** How long `stop` waits for a delete in flight (ms). */
export const STOP_WAIT_MS = 5_000;

/** unique_violation (on pg_class's names) and duplicate_table: a concurrent `create index`. */
const CREATED_MEANWHILE = new Set(["23505", "42P07"]);

export interface RetentionOptions {
  /** The table (its name passed the receiver's identifier check). */
  table: string;
  /** Rows with a `date` older than now minus this are deleted. */
  keepMs: number;
  /** Time between runs (ms). */
  intervalMs: number;
  /** Rows per delete (default 5,000). */
  batchRows?: number;
  /** Pause between two deletes of one run (ms, default 20). */
  pauseMs?: number;
  now?: () => number;
  /** What the log lines start with, e.g. `receiver eth_stats`. */
  name: string;
}

export interface TablePruner {
  /** Deletes every row past the horizon now; resolves with how many (throws what Postgres threw). */
  prune(): Promise<number>;
  /** Runs `prune` now and every `intervalMs` until `stop`. */
  start(): void;
  /** Stops the timer and waits for a delete in flight (at most STOP_WAIT_MS). */
  stop(): Promise<void>;
  stats(): { rows_pruned: number; prune_failures: number };
}

/** Creates the pruner of one table; `connect` gives the receiver's Postgres client. */
export function createTablePruner(
  connect: () => Promise<postgres.Sql>,
  options: RetentionOptions,
): TablePruner {
  const now = options.now ?? Date.now;
  const batchRows = options.batchRows ?? 5_000;
  const pauseMs = options.pauseMs ?? 20;
  const { table, name } = options;
  // Within Postgres's 63 bytes (table names here are ASCII), and never the table's own name.
  const indexName = `${table.slice(0, 54)}_date_idx`;
  const counters = { rows_pruned: 0, prune_failures: 0 };
  const stopping = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let started = false;
  let indexed = false;
  let failing = false;
  let indexFailing = false;

  /**
   * Makes sure the `date` index exists and is valid; false while another session builds it. A
   * build cut short (the service stopped during it) leaves an invalid index that `if not exists`
   * would keep for good: it is dropped and built again.
   */
  async function ensureIndex(sql: postgres.Sql): Promise<boolean> {
    const [index] = await sql<{ valid: boolean; building: boolean }[]>`
      select i.indisvalid as valid,
             exists(select 1 from pg_stat_progress_create_index p where p.index_relid = i.indexrelid) as building
      from pg_index i where i.indexrelid = to_regclass(${indexName})`;
    if (index?.valid) return true;
    if (index?.building) return false;
    if (index) await sql.unsafe(`drop index concurrently if exists "${indexName}"`);
    // Concurrently: the inserts go on while it is built (it reads the whole table once).
    try {
      await sql.unsafe(`create index concurrently if not exists "${indexName}" on "${table}" (date)`);
      return true;
    } catch (err) {
      // Another instance created it at the same moment (cluster mode): checked again next run.
      if (!CREATED_MEANWHILE.has((err as { code?: string }).code ?? "")) throw err;
      return false;
    }
  }

  async function prune(): Promise<number> {
    const sql = await connect();
    if (!indexed) {
      try {
        indexed = await ensureIndex(sql);
        indexFailing = false;
      } catch (err) {
        // No right to make it (a role that does not own the table), say: old rows still go,
        // each delete reading more of the table; the index is tried again at the next run.
        if (!indexFailing) {
          console.warn(`${name}: cannot make index ${indexName} on ${table}: ${(err as Error).message}`);
        }
        indexFailing = true;
      }
      // Another instance is building it: its deletes will run on it; this run waits for it.
      if (!indexed && !indexFailing) return 0;
    }
    // Sent as the inserts send `date`: a UTC ISO string the `timestamp` cast reads without its zone.
    const horizon = new Date(now() - options.keepMs).toISOString();
    const statement = `delete from "${table}" where ctid = any(array(` +
      `select ctid from "${table}" where date < $1::timestamp limit $2 for update skip locked))`;
    let deleted = 0;
    while (!stopping.signal.aborted) {
      const result = await sql.unsafe(statement, [horizon, batchRows]);
      deleted += result.count;
      counters.rows_pruned += result.count;
      if (result.count < batchRows) break;
      await sleep(pauseMs, stopping.signal);
    }
    if (deleted > 0) console.log(`${name}: deleted ${deleted} rows of ${table} older than ${horizon}`);
    return deleted;
  }

  function run(): void {
    running = prune().then(() => {
      failing = false;
    }, (err) => {
      counters.prune_failures++;
      if (!failing) console.error(`${name}: deleting old rows of ${table} failed (retried):`, err.message);
      failing = true;
    }).finally(() => {
      if (!stopping.signal.aborted) timer = setTimeout(run, options.intervalMs);
    });
  }

  return {
    prune,
    start() {
      if (started || stopping.signal.aborted) return;
      started = true;
      run();
    },
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      // A delete stuck on a frozen server is not waited for: closing the client ends it.
      await within(running, STOP_WAIT_MS);
    },
    stats: () => ({ ...counters }),
  };
}
