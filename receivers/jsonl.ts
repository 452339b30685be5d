/**
 * The `jsonl` receiver: appends every Message as one JSON line to a file — an archive or
 * debugging sink that needs no database. One write per batch; a failed write throws and the
 * pipeline retries it (a torn partial line is possible only if the disk fills mid-write).
 */
import { z } from "zod";
import type { Receiver, ReceiverType } from "../core/receiver.ts";

const schema = z.object({
  /** The file to append to (created with its directory when missing). */
  path: z.string().min(1),
}).strict();

/** Creates a durable receiver appending messages to `options.path`. */
export function createJsonlReceiver(id: string, options: z.infer<typeof schema>): Receiver {
  let file: Deno.FsFile | undefined;
  let lines = 0;
  const encoder = new TextEncoder();
  return {
    id,
    durable: true,
    async init() {
      const dir = options.path.includes("/") ? options.path.slice(0, options.path.lastIndexOf("/")) : ".";
      if (dir) await Deno.mkdir(dir, { recursive: true });
      file = await Deno.open(options.path, { append: true, create: true });
    },
    async receive(batch) {
      if (!file) throw new Error("jsonl receiver used before init");
      const text = batch.map((m) => JSON.stringify(m)).join("\n") + "\n";
      const bytes = encoder.encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      lines += batch.length;
    },
    inactive() {},
    close() {
      file?.close();
      file = undefined;
    },
    stats() {
      return { lines_written: lines };
    },
  };
}

/** Registry entry of the `jsonl` receiver. */
export const jsonlReceiverType: ReceiverType<typeof schema> = {
  options: schema,
  create: (options, context) => createJsonlReceiver(context.config.id, options),
};
