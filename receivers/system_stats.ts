/**
 * The `system_stats` receiver: `statistics` messages of `system_metrics`
 * (`{cpu_load, memory_usage, disk_usage}`) become rows of Postgres table `system_stats`.
 *
 * Body validation (a body that fails is skipped and counted, never fails the batch):
 * `cpu_load` and `memory_usage` are finite JSON numbers; `disk_usage` is a safe integer (the
 * column is bigint). Strings for numbers are malformed. Unknown keys are ignored.
 */
import { z } from "zod";
import { createStatsTableReceiver, tableOptionsSchema } from "./stats_table.ts";
import type { ReceiverType } from "../core/receiver.ts";

const options = tableOptionsSchema("system_stats");

const body = z.object({
  cpu_load: z.number(),
  memory_usage: z.number(),
  disk_usage: z.int(),
});

/** The `system_stats` receiver type: system `statistics` → rows of `system_stats`. */
export const systemStatsReceiverType: ReceiverType<typeof options> = {
  needsPostgres: () => true,
  options,
  create: (opts, context) =>
    createStatsTableReceiver(context.config.id, opts, context, {
      baseTable: "system_stats",
      what: "system statistics",
      body,
      columns: (b) => ({ cpu_load: b.cpu_load, disk_usage: b.disk_usage, memory_usage: b.memory_usage }),
    }),
};
