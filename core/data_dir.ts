/**
 * The service's local state on disk: its data dir (one service each, 0711) and the Deno KV file of
 * users, bans and the generated JWT secret (0600), opened by service.ts at start.
 */
import { dirname, resolve } from "node:path";
import { type Config, ConfigError } from "./config.ts";
import { exists } from "./files.ts";

/**
 * Creates `dataDir` when missing (0711: others may pass through it, as the embedded Postgres
 * does under root as OS user postgres, but not list it) and takes `<dataDir>/service.lock` (an
 * advisory lock, released when the process ends however it ends): a second service on the same
 * data dir stops at start-up with a message saying so, instead of serving while its embedded
 * Postgres and spill files are another process's. The lock is held until the file is closed.
 */
export async function openDataDir(dataDir: string): Promise<Deno.FsFile> {
  if (!(await exists(dataDir))) await Deno.mkdir(dataDir, { recursive: true, mode: 0o711 });
  const path = `${dataDir}/service.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
  if (!(await file.tryLock(true))) {
    file.close();
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    throw new ConfigError(
      `dataDir ${resolve(dataDir)} is in use by a running service${holder ? ` (pid ${holder})` : ""}: ` +
        "stop it, or give this one a dataDir of its own",
    );
  }
  try {
    await file.truncate(0);
    await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  } catch (err) {
    file.close();
    throw naming(path, err); // a full disk said "No space left on device (os error 28)", not where
  }
  return file;
}

/** `err` with the path it happened on (errors of an open file's writes, and of SQLite, lack it). */
function naming(path: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err);
  return new Error(`${resolve(path)}: ${message}`, { cause: err });
}

/**
 * Whether the service keeps its users, bans and JWT secret in the KV file: always, but in a
 * cluster whose auth store is its Postgres.
 */
export function usesKvFile(config: Config): boolean {
  return config.cluster?.authStore !== "postgres";
}

/**
 * Opens `config.kv.path`: a local file is created readable by the service only (password hashes,
 * the generated JWT secret), its WAL files too; a KV Connect URL or ":memory:" is opened as it is.
 */
export async function openKvFile(config: Config): Promise<Deno.Kv> {
  const path = config.kv.path;
  const local = await createKvFile(config);
  const kv = await Deno.openKv(path).catch((err) => {
    throw local ? naming(path, err) : err; // SQLite's "database or disk is full" named no file
  });
  if (local) {
    for (const suffix of ["", "-wal", "-shm"]) await Deno.chmod(path + suffix, 0o600).catch(() => {});
  }
  return kv;
}

/**
 * Creates a local KV file when missing (0600), after the check of users an earlier version kept
 * elsewhere; false, doing nothing, for a KV Connect URL or ":memory:". `deno task migrate` calls it
 * too: it must not need a remote KV, and the data dir it leaves is not one used without a KV file.
 */
export async function createKvFile(config: Config): Promise<boolean> {
  const path = config.kv.path;
  if (path.includes("://") || path === ":memory:") return false;
  await refuseLegacyKv(config);
  await Deno.mkdir(dirname(path), { recursive: true });
  (await Deno.open(path, { create: true, write: true, mode: 0o600 })).close();
  return true;
}

/** Where the KV file was by default before it followed `dataDir`. */
const LEGACY_KV_PATH = "data/poa.kv";

/** What a run leaves in its data dir besides the KV file (every version has made these). */
const USED_DATA_DIR_ENTRIES = ["postgres", "spill", "admin-password", "ws-secret"];

/**
 * A service whose `dataDir` is not `data` kept its KV file (users, bans, the JWT secret) in
 * `data/poa.kv` until the file followed `dataDir`: rather than start with no users, it says where
 * they are.
 */
async function refuseLegacyKv(config: Config): Promise<void> {
  if (!config.kv.inDataDir || (await exists(config.kv.path))) return;
  // Started from another directory (a new release's), the old file is not in `data/` here: a
  // data dir an earlier run used (its Postgres, spill files, generated secrets) without a KV file
  // means the users are elsewhere. Before, the start made an empty one: no users, every token 401,
  // and no later start said where they were.
  const used = [];
  for (const name of USED_DATA_DIR_ENTRIES) if (await exists(`${config.dataDir}/${name}`)) used.push(name);
  if (used.length > 0 && !(await exists(LEGACY_KV_PATH))) {
    throw new ConfigError(
      `kv.path: ${config.kv.path} does not exist, but ${resolve(config.dataDir)} was used before (${
        used.join(", ")
      }): ` +
        `the users, bans and JWT secret of an earlier version are in data/poa.kv under the directory it was started ` +
        `from; move that file to ${config.kv.path}, or set "kv": {"path": …} to it (or to a new file to start without users)`,
    );
  }
  if (resolve(config.dataDir) === resolve(dirname(LEGACY_KV_PATH)) || !(await exists(LEGACY_KV_PATH))) return;
  // A service.lock beside it: `data` is the data dir of a service of this version (which made the
  // lock and its own KV file there), maybe running now; its users are not this service's.
  if (await exists(`${dirname(LEGACY_KV_PATH)}/service.lock`)) return;
  throw new ConfigError(
    `kv.path: the users, bans and JWT secret are in ${LEGACY_KV_PATH} (kv.path did not follow dataDir before); ` +
      `move it to ${config.kv.path}, or set "kv": {"path": "${LEGACY_KV_PATH}"}`,
  );
}
