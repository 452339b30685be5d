/** Durable overflow for a receiver's queue: numbered JSON segment files, replayed in order. */
import { writeFileAtomic } from "./files.ts";
import { isQueueItem, type QueueItem } from "./queue_item.ts";

/** A segment loaded back from disk. */
export interface Segment {
  name: string;
  items: QueueItem[];
}

/** Segment files of one receiver, oldest first. */
export interface SpillStore {
  /** Appends items as the newest segment. */
  append(items: QueueItem[]): Promise<void>;
  /** Writes items as a segment older than every existing one (unsent queue at shutdown). */
  prepend(items: QueueItem[]): Promise<void>;
  oldest(): Promise<Segment | null>;
  /** The oldest segment newer than `after` (by name), or null when none is left. */
  next(after: string): Promise<Segment | null>;
  remove(name: string): Promise<void>;
  /** Items in segments on disk. */
  readonly pendingItems: number;
  /** Bytes of the segment files on disk. */
  readonly pendingBytes: number;
  readonly segments: number;
  /**
   * Segments that could not be read back (truncated, overwritten) and were set aside as
   * `<name>.corrupt`, and the items their names said they held: not replayed.
   */
  readonly corruptSegments: number;
  readonly corruptItems: number;
}

/**
 * Writes `items` in front of every segment on disk, in order (their last chunk first), taking each
 * chunk off the end of `items` once it is written: after a failed write, `items` holds what is
 * still to write, and a call with it again goes on from there.
 */
export async function prependInOrder(
  store: SpillStore,
  items: QueueItem[],
  segmentSize: number,
): Promise<void> {
  while (items.length > 0) {
    const chunk = items.slice(Math.max(0, items.length - segmentSize));
    await store.prepend(chunk);
    items.length -= chunk.length;
  }
}

const WIDTH = 16;
const ORIGIN = 5_000_000_000_000_000; // room to prepend below and append above

function segmentName(seq: number, count: number): string {
  return `${String(seq).padStart(WIDTH, "0")}-${count}.json`;
}

function parseName(name: string): { seq: number; count: number } | null {
  const m = /^(\d+)-(\d+)\.json$/.exec(name);
  return m ? { seq: Number(m[1]), count: Number(m[2]) } : null;
}

/**
 * Where spill directories live in the data dir: receiver queues' under `spill/`, the alerts
 * receiver's own undelivered alerts under `alerts/` (receivers/alerts.ts).
 */
export type SpillKind = "spill" | "alerts";

/** The directory holding `kind` spills of every receiver. */
export function spillRoot(dataDir: string, kind: SpillKind): string {
  return `${dataDir}/${kind}`;
}

/** A receiver's own spill directory name under its root: its id, encoded for a path. */
export function spillDirName(id: string): string {
  return encodeURIComponent(id);
}

/** A receiver's spill directory. */
export function spillDir(dataDir: string, kind: SpillKind, id: string): string {
  return `${spillRoot(dataDir, kind)}/${spillDirName(id)}`;
}

/**
 * Spill directories under `root` that none of `opened` (the configured receivers' directories
 * names) is, with the items their segment names say they hold: accepted reports of a receiver
 * removed or renamed since, which nothing replays. Directories holding no segment are left out.
 */
export async function unopenedSpills(
  root: string,
  opened: readonly string[],
): Promise<Array<{ dir: string; items: number }>> {
  const found: Array<{ dir: string; items: number }> = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (!entry.isDirectory || opened.includes(entry.name)) continue;
      let items = 0;
      for await (const file of Deno.readDir(`${root}/${entry.name}`)) {
        if (file.isFile) items += parseName(file.name)?.count ?? 0;
      }
      if (items > 0) found.push({ dir: `${root}/${entry.name}`, items });
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return found;
}

/**
 * Longest segment text. A segment is one JSON text, read back whole: past V8's longest string
 * (2^29 - 24 characters) it could be neither written nor read, and 16 reports of 8 MB of control
 * characters (6 characters each once escaped) made one. Larger appends are several segments.
 */
const MAX_SEGMENT_CHARS = 64 * 1024 * 1024;

/** `items` as segment texts of at most `maxChars` each (a single larger item alone), in order. */
function segmentTexts(items: QueueItem[], maxChars: number): Array<{ text: string; count: number }> {
  const out: Array<{ text: string; count: number }> = [];
  let parts: string[] = [];
  let length = 2;
  const close = () => out.push({ text: `[${parts.join(",")}]`, count: parts.length });
  for (const item of items) {
    const json = JSON.stringify(item);
    if (parts.length > 0 && length + json.length + 1 > maxChars) {
      close();
      parts = [];
      length = 2;
    }
    parts.push(json);
    length += json.length + 1;
  }
  if (parts.length > 0) close();
  return out;
}

/** Opens (creating) the spill directory and indexes the segments already there. */
export async function openSpillStore(
  dir: string,
  options: { maxSegmentChars?: number } = {},
): Promise<SpillStore> {
  const maxSegmentChars = options.maxSegmentChars ?? MAX_SEGMENT_CHARS;
  // Private, as the data dir's other files: spilled reports carry agents' addresses and users.
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const index = new Map<string, { seq: number; count: number; bytes: number }>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const parsed = parseName(entry.name);
    if (parsed) index.set(entry.name, { ...parsed, bytes: (await Deno.stat(`${dir}/${entry.name}`)).size });
    else if (entry.name.endsWith(".tmp")) await Deno.remove(`${dir}/${entry.name}`); // torn write
  }
  let pendingItems = 0;
  let pendingBytes = 0;
  for (const { count, bytes } of index.values()) {
    pendingItems += count;
    pendingBytes += bytes;
  }
  const seqs = () => [...index.values()].map((v) => v.seq);
  let maxSeq = index.size > 0 ? Math.max(...seqs()) : ORIGIN;
  let minSeq = index.size > 0 ? Math.min(...seqs()) : ORIGIN;

  /**
   * Writes `items` as segments numbered `seqs` (one per text, taken before any write starts), in
   * `order` of the texts; a failure removes those written, so the caller keeps them all.
   */
  async function writeAll(items: QueueItem[], seqs: (count: number) => number[], order: "first" | "last") {
    const texts = segmentTexts(items, maxSegmentChars);
    const numbers = seqs(texts.length);
    const indexes = texts.map((_, i) => i);
    if (order === "last") indexes.reverse();
    const written: string[] = [];
    try {
      for (const i of indexes) written.push(await write(numbers[i]!, texts[i]!));
    } catch (err) {
      for (const name of written) await remove(name).catch(() => {});
      throw err;
    }
  }

  /** Takes a segment out of the index and the pending counts: what they held, if it was there. */
  function unindex(name: string): { count: number; bytes: number } | undefined {
    const meta = index.get(name);
    if (meta === undefined) return undefined;
    index.delete(name);
    pendingItems -= meta.count;
    pendingBytes -= meta.bytes;
    return meta;
  }

  /** Delivered segments whose file could not be removed (a read-only directory): tried again. */
  const undeleted = new Set<string>();

  /**
   * Removes a delivered segment. It leaves the index first, whether its file goes or not: a file
   * that cannot be removed is not replayed again in this run (it was, in a loop: each replay
   * delivered, then failed to remove, then read it again), only at the next start if still there.
   * Its removal is tried again when called again for it, and after the next one that works.
   */
  async function remove(name: string): Promise<void> {
    if (unindex(name)) undeleted.add(name);
    else if (!undeleted.has(name)) return;
    await removeFile(name);
    // The directory takes removals again: what it refused before goes now.
    for (const other of undeleted) await removeFile(other).catch(() => {});
  }

  async function removeFile(name: string): Promise<void> {
    try {
      await Deno.remove(`${dir}/${name}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    undeleted.delete(name);
  }

  /** Opens a new file in the spill directory, creating the directory again if it was removed. */
  async function create(path: string): Promise<Deno.FsFile> {
    const options = { write: true, create: true, truncate: true, mode: 0o600 };
    try {
      return await Deno.open(path, options);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      console.error(`spill ${dir}: the directory was gone; creating it again`);
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      return await Deno.open(path, options);
    }
  }

  async function write(seq: number, segment: { text: string; count: number }): Promise<string> {
    const name = segmentName(seq, segment.count);
    const bytes = new TextEncoder().encode(segment.text);
    await writeFileAtomic(`${dir}/${name}`, bytes, create); // synced: durable before it counts as spilled
    // In place: it counts as written from here (a failure below must not leave the caller to
    // keep these items in memory too, delivered now and replayed again from this file later).
    index.set(name, { seq, count: segment.count, bytes: bytes.length });
    pendingItems += segment.count;
    pendingBytes += bytes.length;
    // The rename is durable only once the directory is synced: until then a power loss can
    // leave just the .tmp file, which the next start removes as a torn write.
    try {
      const dirHandle = await Deno.open(dir, { read: true });
      try {
        await dirHandle.sync();
      } finally {
        dirHandle.close();
      }
    } catch (err) {
      console.error(`spill ${dir}: syncing the directory after ${name} failed:`, err);
    }
    return name;
  }

  let corruptSegments = 0;
  let corruptItems = 0;

  /**
   * A segment that cannot be parsed would stop its receiver for good (every start reads it
   * first): it is renamed out of the way, counted and logged, and the next one is read.
   */
  async function setAside(name: string, why: string): Promise<void> {
    await Deno.rename(`${dir}/${name}`, `${dir}/${name}.corrupt`).catch(() => {});
    const meta = unindex(name)!;
    corruptSegments++;
    corruptItems += meta.count;
    console.error(
      `spill ${dir}: segment ${name} cannot be read (${why}): its ${meta.count} item(s) are not replayed; ` +
        `the file is kept as ${name}.corrupt`,
    );
  }

  async function read(afterSeq: number): Promise<Segment | null> {
    while (true) {
      let best: [string, { seq: number }] | undefined;
      for (const entry of index) {
        if (entry[1].seq > afterSeq && (!best || entry[1].seq < best[1].seq)) best = entry;
      }
      if (!best) return null;
      let items: unknown;
      try {
        items = JSON.parse(await Deno.readTextFile(`${dir}/${best[0]}`));
      } catch (err) {
        // Other read errors (EIO, permissions) are thrown: the runner tries again later.
        if (!(err instanceof SyntaxError || err instanceof Deno.errors.NotFound)) throw err;
        await setAside(best[0], (err as Error).message);
        continue;
      }
      if (Array.isArray(items) && items.every(isQueueItem)) return { name: best[0], items };
      await setAside(best[0], Array.isArray(items) ? "an entry is not a queue item" : "not a JSON array");
    }
  }

  return {
    get pendingItems() {
      return pendingItems;
    },
    get pendingBytes() {
      return pendingBytes;
    },
    get segments() {
      return index.size;
    },
    get corruptSegments() {
      return corruptSegments;
    },
    get corruptItems() {
      return corruptItems;
    },
    // Each counter only ever moves away from the other (room for 5e15 segments either way): a
    // number is taken before its write starts, so writes in flight together never share one.
    // (Resetting one counter to the other when a single segment was left let an append and a
    // prepend in flight at once number later segments out of order, or alike: a file overwritten.)
    async append(items) {
      if (items.length === 0) return;
      await writeAll(items, (n) => Array.from({ length: n }, () => ++maxSeq), "first");
    },
    async prepend(items) {
      if (items.length === 0) return;
      // The newest text nearest the segments there, written first (as prependInOrder goes).
      await writeAll(items, (n) => Array.from({ length: n }, () => --minSeq).reverse(), "last");
    },
    oldest() {
      return read(-Infinity);
    },
    next(after) {
      return read(parseName(after)?.seq ?? Infinity);
    },
    remove,
  };
}
