import assert from "node:assert/strict";
import { clearStaleServer } from "./embedded_host.ts";

Deno.test({
  name: "a stale postmaster.pid with another program in the data directory: refused, that program not killed",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const pgdata = await Deno.makeTempDir({ prefix: "poa-pgdata-" });
    // A dead postmaster's lock file, and an operator's program whose working directory is pgdata.
    await Deno.writeTextFile(`${pgdata}/postmaster.pid`, "999999\n");
    const other = new Deno.Command("sleep", { args: ["60"], cwd: pgdata, stdout: "null", stderr: "null" })
      .spawn();
    try {
      await assert.rejects(
        clearStaleServer(pgdata, `${pgdata}/owner.pid`),
        /is still used by process\(es\) \d+/,
      );
      Deno.kill(other.pid, "SIGCONT"); // throws if it was killed
    } finally {
      other.kill("SIGKILL");
      await other.status;
      await Deno.remove(pgdata, { recursive: true });
    }
  },
});
