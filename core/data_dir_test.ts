import assert from "node:assert/strict";
import { parseConfig } from "./config.ts";
import { createKvFile, openDataDir, openKvFile } from "./data_dir.ts";

/** Runs `fn` in a fresh working directory holding `data/poa.kv` (and the files given). */
async function inDirWithDataKv(files: string[], fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "poa-data-dir-" });
  const before = Deno.cwd();
  try {
    await Deno.mkdir(`${dir}/data`);
    for (const file of ["data/poa.kv", ...files]) await Deno.writeTextFile(`${dir}/${file}`, "");
    Deno.chdir(dir);
    await fn(dir);
  } finally {
    Deno.chdir(before);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a data/poa.kv left by a version whose KV file did not follow dataDir is refused with where it is", async () => {
  await inDirWithDataKv([], async (dir) => {
    const config = parseConfig({ dataDir: `${dir}/state` });
    await assert.rejects(openKvFile(config), /the users, bans and JWT secret are in data\/poa\.kv/);
  });
});

Deno.test("a data/poa.kv beside a service.lock is another service's own (that data dir's): this one opens its own", async () => {
  await inDirWithDataKv(["data/service.lock"], async (dir) => {
    const config = parseConfig({ dataDir: `${dir}/state` });
    const kv = await openKvFile(config);
    kv.close();
    assert.ok((await Deno.stat(`${dir}/state/poa.kv`)).isFile);
  });
});

Deno.test("a used data dir without its KV file is refused, saying where an earlier version kept the users", async () => {
  // Upgraded from another working directory (a new release's): no data/poa.kv here. Before, an empty
  // KV was made: no users, every token 401, and later starts said nothing either.
  const dir = await Deno.makeTempDir({ prefix: "poa-data-dir-" });
  const before = Deno.cwd();
  try {
    Deno.chdir(dir);
    await Deno.mkdir(`${dir}/state/spill`, { recursive: true });
    await Deno.writeTextFile(`${dir}/state/admin-password`, "x");
    const config = parseConfig({ dataDir: `${dir}/state` });
    await assert.rejects(openKvFile(config), /was used before \(spill, admin-password\).*data\/poa\.kv/);
    assert.equal(await Deno.stat(`${dir}/state/poa.kv`).then(() => true, () => false), false);
    // Named outright, a new file is opened (a start without users, chosen).
    const chosen = parseConfig({ dataDir: `${dir}/state`, kv: { path: `${dir}/state/poa.kv` } });
    (await openKvFile(chosen)).close();
    // A fresh data dir opens its own.
    (await openKvFile(parseConfig({ dataDir: `${dir}/fresh` }))).close();
  } finally {
    Deno.chdir(before);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("start-up errors without a path name the file: a lock file on a full disk, a KV file that is not one", async () => {
  // Both said only what went wrong: "No space left on device (os error 28)", "file is not a database".
  const dir = await Deno.makeTempDir({ prefix: "poa-data-dir-" });
  try {
    await Deno.symlink("/dev/full", `${dir}/service.lock`); // every write: ENOSPC, as on a full disk
    await assert.rejects(openDataDir(dir), (err: Error) => err.message.startsWith(`${dir}/service.lock: `));
    await Deno.writeTextFile(`${dir}/poa.kv`, "not a SQLite file ".repeat(20));
    await assert.rejects(
      openKvFile(parseConfig({ dataDir: dir, kv: { path: `${dir}/poa.kv` } })),
      (err: Error) => err.message === `${dir}/poa.kv: file is not a database`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createKvFile (what `deno task migrate` does): a local file made 0600; a KV Connect URL left alone, no token needed", async () => {
  // Migrate opened the KV itself: a cluster whose KV is remote could not migrate without its token.
  const dir = await Deno.makeTempDir({ prefix: "poa-data-dir-" });
  try {
    assert.equal(await createKvFile(parseConfig({ dataDir: dir })), true);
    assert.equal((await Deno.stat(`${dir}/poa.kv`)).mode! & 0o777, 0o600);
    const remote = parseConfig({ dataDir: dir, kv: { path: "https://kv.example.invalid/db" } });
    assert.equal(await createKvFile(remote), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
