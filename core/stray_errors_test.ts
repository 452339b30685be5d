import assert from "node:assert/strict";
import { isStrayNetworkError } from "./stray_errors.ts";

Deno.test("stray network errors: a socket's error codes, not our own errors", () => {
  assert.equal(
    isStrayNetworkError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })),
    true,
  );
  assert.equal(isStrayNetworkError(Object.assign(new Error("write EPIPE"), { code: "EPIPE" })), true);
  assert.equal(isStrayNetworkError(new TypeError("x is undefined")), false);
  assert.equal(isStrayNetworkError(Object.assign(new Error("no"), { code: "ENOENT" })), false);
  assert.equal(isStrayNetworkError({ code: "ECONNRESET" }), false); // not an Error
});

/** Runs a script that installs the guard, then `then`; returns its exit code and output. */
async function guarded(then: string): Promise<{ code: number; out: string }> {
  const script = `
    import net from "node:net";
    import { guardStrayNetworkErrors } from ${
    JSON.stringify(new URL("./stray_errors.ts", import.meta.url).href)
  };
    const guard = guardStrayNetworkErrors((line) => console.log(line));
    // A socket whose peer resets it, with no error listener (as nats.js leaves its socket while it
    // closes): Deno's node:net throws the read error from its callback.
    const server = net.createServer((s) => { s.on("error", () => {}); setTimeout(() => s.resetAndDestroy(), 20); });
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const client = net.connect(server.address().port, "127.0.0.1");
    await new Promise((r) => setTimeout(r, 300));
    Promise.reject(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    await new Promise((r) => setTimeout(r, 50));
    console.log("alive after", guard.count());
    client.destroy();
    server.close();
    ${then}
  `;
  const file = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(file, script);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", file],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code, out: decode(stdout) + decode(stderr) };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("a peer's reset thrown from a socket no library listens on is logged and counted; the process lives, a bug still ends it", async () => {
  const alive = await guarded("");
  assert.equal(alive.code, 0, alive.out);
  assert.match(
    alive.out,
    /uncaught error from a socket, not handled by its library: read ECONNRESET; carrying on/,
  );
  assert.match(alive.out, /unhandled rejection from a socket, not handled by its library: write EPIPE/);
  assert.match(alive.out, /alive after 2/);
  const bug = await guarded("setTimeout(() => { throw new TypeError('a bug'); }, 10);");
  assert.equal(bug.code, 1, bug.out);
  assert.match(bug.out, /Uncaught TypeError: a bug/);
});
