import assert from "node:assert/strict";
import { exists, secretFile } from "./files.ts";

Deno.test("exists: files, directories and symlinks to them; false when missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/f`, "x");
    await Deno.symlink(`${dir}/f`, `${dir}/link`);
    await Deno.symlink(`${dir}/missing`, `${dir}/dangling`);
    assert.equal(await exists(`${dir}/f`), true);
    assert.equal(await exists(dir), true);
    assert.equal(await exists(`${dir}/link`), true);
    assert.equal(await exists(`${dir}/dangling`), false);
    assert.equal(await exists(`${dir}/missing`), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secretFile: made once with mode 0600, then read back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let made = 0;
    const make = () => `secret-${++made}`;
    assert.deepEqual(await secretFile(`${dir}/s`, make), { value: "secret-1", created: true });
    assert.equal((await Deno.stat(`${dir}/s`)).mode! & 0o777, 0o600);
    assert.equal(await Deno.readTextFile(`${dir}/s`), "secret-1\n");
    assert.deepEqual(await secretFile(`${dir}/s`, make), { value: "secret-1", created: false });
    assert.equal(made, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secretFile: an empty file is made anew, or is the caller's error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/s`, "\n");
    assert.deepEqual(await secretFile(`${dir}/s`, () => "fresh"), { value: "fresh", created: true });
    assert.equal(await Deno.readTextFile(`${dir}/s`), "fresh\n");
    await Deno.writeTextFile(`${dir}/p`, "");
    await assert.rejects(
      secretFile(`${dir}/p`, () => "never", { emptyError: "p is empty" }),
      { message: "p is empty" },
    );
    assert.equal(await Deno.readTextFile(`${dir}/p`), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("secretFile: starts racing for one file all end with the same secret", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let made = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => secretFile(`${dir}/s`, () => `secret-${++made}`)),
    );
    const stored = (await Deno.readTextFile(`${dir}/s`)).trim();
    for (const r of results) assert.equal(r.value, stored);
    assert.equal(results.filter((r) => r.created).length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
