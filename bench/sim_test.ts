/** The agent simulator against a real listener: no errors, every report kind arrives, one chain. */
import assert from "node:assert/strict";
import { z } from "zod";
import type { Message } from "../core/message.ts";
import type { ReceiverType } from "../core/receiver.ts";
import { ADMIN } from "../tests/support/harness.ts";
import { startTestService } from "../tests/support/service.ts";
import { parseSimArgs, runSimulation } from "./sim.ts";

function recorderType(seen: Message[], inactive: string[]): ReceiverType {
  return {
    options: z.object({}).strict(),
    create: (_options, context) => ({
      id: context.config.id,
      durable: false,
      receive(batch) {
        seen.push(...batch);
        return Promise.resolve();
      },
      inactive(agentId) {
        inactive.push(agentId);
      },
    }),
  };
}

const kindOf = (m: Message) => `${m.dataType}/${(m.data as { type?: string }).type}`;

for (const [encoding, workers] of [["json", 1], ["msgpack", 1], ["json", 2]] as const) {
  const name =
    `sim: a few agents in ${encoding}${workers > 1 ? ` on ${workers} worker threads` : ""} at 20x cadence ` +
    "make no errors, every report kind arrives, one chain";
  Deno.test(name, async () => {
    const seen: Message[] = [];
    const inactive: string[] = [];
    const t = await startTestService({
      receivers: [{
        id: "all",
        type: "recorder",
        subscribe: ["ethereum_metrics", "networking_metrics", "system_metrics"],
      }],
    }, { recorder: recorderType(seen, inactive) });
    try {
      const summary = await runSimulation({
        agents: 4,
        durationS: 2.5,
        url: t.base,
        admin: `${ADMIN.name}:${ADMIN.password}`,
        users: 2,
        encoding,
        rate: 20,
        bye: true,
        record: true,
        seed: 42,
        workers,
      });
      assert.equal(summary.errors, 0, JSON.stringify(summary.errorsByCause));
      assert.ok(summary.ok > 50, `only ${summary.ok} requests`);
      for (
        const kind of [
          "ping",
          "latency",
          "information",
          "block",
          "pending",
          "statistics",
          "system_statistics",
          "bye",
        ]
      ) {
        assert.ok(summary.byKind[kind]!.ok > 0, `no ${kind} sent`);
      }
      // Everything accepted reached the receiver (pings and byes are not messages).
      const messages = summary.ok - summary.byKind["ping"]!.ok - summary.byKind["bye"]!.ok;
      const deadline = Date.now() + 3000;
      while (seen.length < messages && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen.length, messages);
      const kinds = new Set(seen.map(kindOf));
      for (
        const k of [
          "ethereum_metrics/information",
          "ethereum_metrics/block",
          "ethereum_metrics/pending",
          "ethereum_metrics/statistics",
          "networking_metrics/latency",
          "system_metrics/statistics",
        ]
      ) assert.ok(kinds.has(k), `no ${k} arrived`);
      // One chain: every agent reports the same hash for a number, and parents link up.
      const hashes = new Map<number, string>();
      const parents = new Map<number, string>();
      for (const m of seen) {
        if (kindOf(m) !== "ethereum_metrics/block") continue;
        const b = (m.data as { body: { number: number; hash: string; parentHash: string } }).body;
        assert.equal(hashes.get(b.number) ?? b.hash, b.hash);
        hashes.set(b.number, b.hash);
        parents.set(b.number, b.parentHash);
      }
      for (const [n, parent] of parents) {
        if (hashes.has(n - 1)) assert.equal(parent, hashes.get(n - 1));
      }
      assert.ok(hashes.size >= 2, "the chain did not advance");
      // Statistics carry their sequence numbers (record mode): each accepted one arrived once.
      const stats = seen.filter((m) => kindOf(m) === "ethereum_metrics/statistics");
      const accepted = Object.values(summary.records!).reduce((n, r) => n + r.statsAccepted.length, 0);
      assert.equal(stats.length, accepted);
      assert.equal(new Set(inactive).size, 4); // bye
    } finally {
      await t.close();
    }
  });
}

Deno.test("--admin-password-file reads the admin's password from a file, so deno task does not echo it", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(file, "s3cret-pass\n");
    assert.equal(parseSimArgs(["--admin-password-file", file]).admin, "admin:s3cret-pass");
    assert.equal(
      parseSimArgs(["--admin", "root", `--admin-password-file=${file}`]).admin,
      "root:s3cret-pass",
    );
    assert.throws(() => parseSimArgs(["--admin-password-file"]), /needs a file/);
  } finally {
    await Deno.remove(file);
  }
});
