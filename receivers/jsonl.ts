/**
 * The `jsonl` receiver: appends every Message as one JSON line to a file — an archive or
 * debugging sink that needs no database. A batch is written in chunks of lines, then synced to
 * disk; a failed write (a full disk) is cut back off the file and throws, and the pipeline retries
 * the batch; a torn last line left by a crash mid-write is cut off at the next start (its batch was
 * not acknowledged: it comes again).
 */
import { z } from "zod";
import type { Receiver, ReceiverType } from "../core/receiver.ts";

const schema = z.object({
  /** The file to append to (created with its directory when missing). */
  path: z.string().min(1),
}).strict();

/** Characters of lines written at once. */
const CHUNK_CHARS = 1 << 20;

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
      // 0600 when created (reports carry agents' addresses and users); an existing file keeps its mode.
      const opened = await Deno.open(options.path, { read: true, append: true, create: true, mode: 0o600 });
      try {
        await cutTornLine(opened);
      } catch (err) {
        opened.close();
        throw err;
      }
      file = opened;
    },
    async receive(batch) {
      if (!file) throw new Error("jsonl receiver used before init");
      const out = file;
      const start = (await out.stat()).size;
      try {
        // Written a chunk of lines at a time: one string of the whole batch could pass V8's longest
        // string (16 reports of 8 MB of control characters, 6 characters each once escaped), and
        // the batch then failed for good.
        let chunk: string[] = [];
        let chunkLength = 0;
        const flush = async () => {
          const bytes = encoder.encode(chunk.join(""));
          let written = 0;
          while (written < bytes.length) written += await out.write(bytes.subarray(written));
          chunk = [];
          chunkLength = 0;
        };
        for (const message of batch) {
          const line = JSON.stringify(message) + "\n";
          chunk.push(line);
          chunkLength += line.length;
          if (chunkLength >= CHUNK_CHARS) await flush();
        }
        if (chunk.length > 0) await flush();
        // On disk before the batch counts as written (its spill segment goes then): a power loss
        // would otherwise take lines from the page cache and their spill with them.
        await out.syncData();
      } catch (err) {
        // What made it to the file is a torn line: gone, so that the retry starts a line of its own.
        await out.truncate(start).catch(() => {});
        throw err;
      }
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

/** Cuts the file back to its last newline when it ends inside a line (a write cut short). */
async function cutTornLine(file: Deno.FsFile): Promise<void> {
  const size = (await file.stat()).size;
  const chunk = new Uint8Array(64 * 1024);
  for (let end = size; end > 0;) {
    const from = Math.max(0, end - chunk.length);
    await file.seek(from, Deno.SeekMode.Start);
    const part = chunk.subarray(0, end - from);
    let read = 0;
    while (read < part.length) read += (await file.read(part.subarray(read))) ?? part.length;
    const newline = part.lastIndexOf(0x0a);
    if (newline === part.length - 1 && end === size) return; // ends with a whole line
    if (newline >= 0) return await file.truncate(from + newline + 1);
    end = from;
  }
  if (size > 0) await file.truncate(0); // one torn line and nothing before it
}

/** Registry entry of the `jsonl` receiver. */
export const jsonlReceiverType: ReceiverType<typeof schema> = {
  options: schema,
  create: (options, context) => createJsonlReceiver(context.config.id, options),
};
