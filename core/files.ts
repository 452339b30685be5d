/** File helpers the service, the embedded Postgres and the cluster runner share. */
import { dirname } from "node:path";

/** Whether `path` exists (a symlink counts as what it points at). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

export interface SecretFileOptions {
  /**
   * What an existing empty file means: made anew (default), or this error (a secret that
   * something else already depends on, e.g. the password of a Postgres cluster).
   */
  emptyError?: string;
}

/**
 * The secret kept in `path` (trimmed), or a new one from `make()` written there with mode 0600.
 * Two processes starting at once agree: the file is created exclusively, and the one that
 * loses reads the winner's secret.
 */
export async function secretFile(
  path: string,
  make: () => string,
  options: SecretFileOptions = {},
): Promise<{ value: string; created: boolean }> {
  for (;;) {
    let text: string | undefined;
    try {
      text = (await Deno.readTextFile(path)).trim();
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (text) return { value: text, created: false };
    if (text !== undefined && options.emptyError !== undefined) throw new Error(options.emptyError);
    const value = make();
    try {
      // An empty file is replaced in place; a missing one is created only if still missing.
      await Deno.writeTextFile(path, value + "\n", { mode: 0o600, createNew: text === undefined });
      return { value, created: true };
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err; // a concurrent start won: read theirs
    }
  }
}

/** Creates (or truncates) `path` for writing, 0600, its directory made when missing. */
async function createPrivate(path: string): Promise<Deno.FsFile> {
  await Deno.mkdir(dirname(path), { recursive: true });
  return await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
}

/**
 * Replaces `path` with `data` whole: written to `<path>.tmp` (made by `create`), synced, then
 * renamed over it (a crash leaves the old file or the new one, never half of either, and a
 * `.tmp` left behind is a torn write). A write that fails removes the `.tmp` file: on a full disk
 * the partial file would hold its space.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  create: (path: string) => Promise<Deno.FsFile> = createPrivate,
): Promise<void> {
  const tmp = `${path}.tmp`;
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const file = await create(tmp);
  try {
    // write() may write less than asked (a full pipe or disk); loop until all of it is out.
    for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  file.close();
  await Deno.rename(tmp, path);
}
