import assert from "node:assert/strict";
import postgres from "postgres";
import { startEmbeddedPostgres } from "./embedded.ts";

const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const EMBEDDED = new URL("./embedded.ts", import.meta.url).href;

async function query<T>(url: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 1 });
  }
}

/** Whether `pid` is a live (not zombie) process. */
async function alive(pid: number): Promise<boolean> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

async function postmasterPid(dataDir: string): Promise<number> {
  return Number.parseInt((await Deno.readTextFile(`${dataDir}/pgdata/postmaster.pid`)).split("\n")[0]!, 10);
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const id = async (flag: string) => {
    const out = await new Deno.Command("id", { args: [flag, "postgres"], stdout: "piped" }).output();
    return Number.parseInt(new TextDecoder().decode(out.stdout), 10);
  };
  return { uid: await id("-u"), gid: await id("-g") };
}

/**
 * Starts the embedded server from another Deno process and SIGKILLs that process, leaving
 * the server running as an orphan. Returns the orphan's pid.
 */
async function orphanServer(dataDir: string): Promise<number> {
  const code = `
    const { startEmbeddedPostgres } = await import(${JSON.stringify(EMBEDDED)});
    const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)} });
    console.log(server.url);
    setInterval(() => {}, 60_000);
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", CONFIG, code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    await reader.cancel();
    assert.match(out, /^postgres:\/\//, "the child started a server");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  return await postmasterPid(dataDir);
}

/** Starts the server in `dataDir` with what it warns about collected (clearing a leftover server). */
async function startCapturingWarnings(dataDir: string) {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (line: string) => void warnings.push(line);
  try {
    return { server: await startEmbeddedPostgres({ dataDir }), warnings };
  } finally {
    console.warn = warn;
  }
}

/** The server and every child of it (each child is in a process group of its own). */
async function serverProcesses(pid: number): Promise<number[]> {
  const pids = [pid];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`).catch(() => "");
    if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) pids.push(Number(entry.name));
  }
  return pids;
}

Deno.test("embedded postgres", async (t) => {
  const dataDir = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-embedded-test-" });
  try {
    let firstUrl = "";

    await t.step("starts a fresh cluster, and a restart keeps its data and password", async () => {
      const first = await startEmbeddedPostgres({ dataDir });
      try {
        firstUrl = first.url;
        await query(
          first.url,
          (sql) => sql`create table kept (note text)`.then(() => sql`insert into kept values ('x')`),
        );
      } finally {
        await first.stop();
      }
      const password = await Deno.readTextFile(`${dataDir}/password`);
      assert.equal((await Deno.stat(`${dataDir}/password`)).mode! & 0o777, 0o600);
      const second = await startEmbeddedPostgres({ dataDir });
      try {
        assert.equal(new URL(second.url).password, new URL(firstUrl).password);
        assert.equal(await Deno.readTextFile(`${dataDir}/password`), password);
        const rows = await query(second.url, (sql) => sql`select note from kept`);
        assert.deepEqual(rows.map((r) => r.note), ["x"]);
      } finally {
        await second.stop();
      }
    });

    await t.step(
      "listens on the port it is given; after stop (idempotent) nothing listens there",
      async () => {
        const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const port = (probe.addr as Deno.NetAddr).port;
        probe.close();
        const server = await startEmbeddedPostgres({ dataDir, port });
        assert.equal(server.port, port);
        assert.equal(new URL(server.url).port, String(port));
        assert.equal((await query(server.url, (sql) => sql`select 1 as one`))[0]!.one, 1);
        const started = Date.now();
        await server.stop();
        // A fast shutdown: not the 60 s wait for an immediate one (a server signalled through
        // ChildProcess.kill counts as killed, and the library's stop then sent it nothing).
        assert.ok(Date.now() - started < 10_000, `stop took ${Date.now() - started} ms`);
        await server.stop();
        await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }));
      },
    );

    await t.step(
      "the server runs in a session of its own: a terminal's Ctrl-C reaches the service, not it",
      async () => {
        const server = await startEmbeddedPostgres({ dataDir });
        try {
          // /proc/<pid>/stat after the command: state, ppid, pgrp, session.
          const ids = async (pid: number | "self") => {
            const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
            const [, , pgrp, session] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
            return { pgrp: Number(pgrp), session: Number(session) };
          };
          const pid = await postmasterPid(dataDir);
          const [ours, its] = [await ids("self"), await ids(pid)];
          assert.notEqual(its.session, ours.session);
          assert.notEqual(its.pgrp, ours.pgrp);
          assert.equal(its.session, pid);
        } finally {
          await server.stop();
        }
      },
    );

    await t.step(
      "a server that dies on its own (SIGKILL) is started again on its port: the URL works again",
      async () => {
        const server = await startEmbeddedPostgres({ dataDir });
        const errors: string[] = [];
        const original = console.error;
        console.error = (...args: unknown[]) => void errors.push(args.map(String).join(" "));
        try {
          const before = await postmasterPid(dataDir);
          Deno.kill(before, "SIGKILL");
          // Before: nothing started it again; the service's writes failed until a restart of it.
          const deadline = Date.now() + 30_000;
          let answered = false;
          while (!answered && Date.now() < deadline) {
            answered = await query(server.url, (sql) => sql`select 1 as one`).then(() => true, () => false);
            if (!answered) await new Promise((resolve) => setTimeout(resolve, 200));
          }
          assert.ok(answered, "the server answers again");
          assert.notEqual(await postmasterPid(dataDir), before);
          assert.match(errors.join("\n"), /embedded server exited \(signal SIGKILL\); starting it again/);
        } finally {
          console.error = original;
          await server.stop();
        }
        await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
      },
    );

    await t.step(
      "stop while a dead server waits to be started again: no new server, stop returns at once",
      async () => {
        const server = await startEmbeddedPostgres({ dataDir });
        const original = console.error;
        console.error = () => {};
        try {
          Deno.kill(await postmasterPid(dataDir), "SIGKILL");
          await new Promise((resolve) => setTimeout(resolve, 200)); // the exit seen, the restart waiting
          const started = Date.now();
          await server.stop();
          assert.ok(Date.now() - started < 5_000, `stop took ${Date.now() - started} ms`);
          await new Promise((resolve) => setTimeout(resolve, 1500)); // past the restart's backoff
          await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
        } finally {
          console.error = original;
        }
      },
    );

    await t.step("a frozen server (SIGSTOP, backends too) is stopped within the stop's bounds", async () => {
      const server = await startEmbeddedPostgres({ dataDir });
      const pid = await postmasterPid(dataDir);
      const pids = await serverProcesses(pid);
      assert.ok(pids.length > 3, "backends and workers");
      for (const p of pids) Deno.kill(p, "SIGSTOP");
      const started = Date.now();
      await server.stop(); // before: waited until something sent SIGCONT
      assert.ok(Date.now() - started < 20_000, `${Date.now() - started} ms`);
      for (const p of pids) assert.throws(() => Deno.kill(p, "SIGCONT"), "none of them is left");
      await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    });

    await t.step("a second start on a directory whose server runs in this process is refused", async () => {
      const server = await startEmbeddedPostgres({ dataDir });
      try {
        await assert.rejects(startEmbeddedPostgres({ dataDir }), /already running in this process/);
      } finally {
        await server.stop();
      }
    });

    await t.step(
      "a server left running by a SIGKILLed process is stopped and the directory starts again",
      async () => {
        const orphan = await orphanServer(dataDir);
        assert.ok(await alive(orphan), "the orphan outlived its process");
        const { server, warnings } = await startCapturingWarnings(dataDir);
        try {
          assert.equal(await alive(orphan), false);
          assert.match(warnings.join("\n"), /left running .* by a killed run/);
          const rows = await query(server.url, (sql) => sql`select note from kept`);
          assert.deepEqual(rows.map((r) => r.note), ["x"]);
        } finally {
          await server.stop();
        }
      },
    );

    await t.step(
      "a server left frozen (SIGSTOP, every process) by a killed run is cleared: the directory starts again",
      async () => {
        const orphan = await orphanServer(dataDir);
        for (const pid of await serverProcesses(orphan)) Deno.kill(pid, "SIGSTOP");
        // Before: SIGINT and SIGQUIT to a frozen server did nothing, and the start failed after 40 s.
        const { server, warnings } = await startCapturingWarnings(dataDir);
        try {
          assert.equal(await alive(orphan), false);
          assert.match(warnings.join("\n"), /left running .* by a killed run/);
          assert.equal((await query(server.url, (sql) => sql`select 1 as one`))[0]!.one, 1);
        } finally {
          await server.stop();
        }
      },
    );

    await t.step("a postmaster.pid left by a SIGKILLed server does not prevent start", async () => {
      const server = await startEmbeddedPostgres({ dataDir });
      Deno.kill(await postmasterPid(dataDir), "SIGKILL");
      await server.stop(); // returns at once: the process is gone
      const again = await startEmbeddedPostgres({ dataDir });
      try {
        assert.equal((await query(again.url, (sql) => sql`select count(*)::int as n from kept`))[0]!.n, 1);
      } finally {
        await again.stop();
      }
    });

    await t.step(
      "a postmaster.pid naming a live process of the server's user does not prevent start",
      async () => {
        // The pid was reused after a crash. Postgres alone refuses: "lock file already exists".
        const ids = Deno.uid() === 0 ? await postgresIds() : {};
        const sleeper = new Deno.Command("sleep", { args: ["30"], ...ids, stdout: "null", stderr: "null" })
          .spawn();
        try {
          await Deno.writeTextFile(`${dataDir}/pgdata/postmaster.pid`, `${sleeper.pid}\n`);
          const server = await startEmbeddedPostgres({ dataDir });
          await server.stop();
        } finally {
          sleeper.kill("SIGKILL");
          await sleeper.status;
        }
      },
    );

    await t.step({
      name: "as root, a data directory that OS user postgres cannot reach is refused with a clear error",
      ignore: Deno.uid() !== 0,
      fn: async () => {
        const parent = await Deno.makeTempDir({ dir: "/tmp", prefix: "poa-private-" }); // 0700 root
        try {
          await assert.rejects(
            startEmbeddedPostgres({ dataDir: `${parent}/data/postgres` }),
            (err: Error) => {
              assert.match(err.message, new RegExp(`cannot enter ${parent}\\b`));
              assert.match(err.message, /postgres\.url/);
              assert.match(err.message, /DATABASE_URL/);
              return true;
            },
          );
        } finally {
          await Deno.remove(parent, { recursive: true });
        }
      },
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
