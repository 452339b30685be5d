/**
 * The `alerts` receiver's file of open episodes (`<dataDir>/alerts/<id>.episodes.json`): what
 * `AlertDetector.episodes()` gives, written whole when it changed, read back and checked at start.
 */
import { z } from "zod";
import { writeFileAtomic } from "../core/files.ts";
import type { SavedEpisode } from "./alert_types.ts";

const CONDITION = z.enum(["inactive", "behind", "fork"]);
/** A time a Date can hold (epoch ms): 9e15 in an edited file made every alert of that node throw. */
const TIME = z.number().int().min(0).max(8.64e15);
/** A saved episodes file, as `episodes()` wrote it. */
const savedEpisodes = z.array(
  z.object({
    node: z.string().min(1).max(1024),
    name: z.string().max(1024).nullable(),
    open: z.array(z.tuple([CONDITION, TIME])).max(3),
    alerted: z.array(CONDITION).max(3),
    episodeSince: TIME,
    keepUntil: TIME.optional(),
    quiet: z.object({
      until: TIME,
      user: z.string().min(1).max(1024).nullable(),
      block: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable(),
    }).strict().optional(),
  }).strict().refine(
    (e) => (e.alerted.length > 0) !== (e.quiet !== undefined),
    "an episode was alerted, or held back by its user's budget (quiet)",
  ),
);

/**
 * The file of open episodes: `save()` writes when they changed, one write at a time (the latest
 * wins; a failed one is logged and tried again by the next change or check).
 */
export function createEpisodesFile(path: string, who: string) {
  let written = "[]";
  let latest = "[]";
  let writing: Promise<void> | undefined;
  let failing = false;
  /** Writes until the file holds the latest episodes (or a write fails); called with them differing. */
  async function flush(): Promise<void> {
    try {
      while (latest !== written) {
        const text = latest;
        await writeFileAtomic(path, text);
        written = text;
        failing = false;
      }
    } catch (err) {
      if (!failing) {
        console.error(`${who}: open alert episodes not saved to ${path}: ${(err as Error).message}`);
      }
      failing = true;
    } finally {
      writing = undefined; // in the same turn as the last check of `latest`: a later save() starts anew
    }
  }
  return {
    /** The saved episodes ([] without a file; a file that cannot be read is logged and left out). */
    async load(): Promise<SavedEpisode[]> {
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          console.error(`${who}: open alert episodes not read from ${path}: ${(err as Error).message}`);
        }
        return [];
      }
      try {
        const saved = savedEpisodes.parse(JSON.parse(text));
        written = latest = text;
        return saved;
      } catch {
        console.error(`${who}: ${path} is not a saved episodes file: left out (no back alerts for them)`);
        return [];
      }
    },
    /** Whether the last write failed (and no later one succeeded). */
    failing: () => failing,
    /** Resolves once the write in progress, if any, is done. */
    written(): Promise<void> {
      return writing ?? Promise.resolve();
    },
    /** Saves `episodes` when they differ from the last saved; resolves once written (or failed). */
    save(episodes: SavedEpisode[]): Promise<void> {
      latest = JSON.stringify(episodes);
      if (writing === undefined && latest !== written) writing = flush();
      return writing ?? Promise.resolve();
    },
  };
}
