import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { createJsonlReceiver } from "./jsonl.ts";

function message(n: number, pad = 0): Message {
  return {
    id: `m${n}`,
    agentId: "agent-1",
    dataType: "ethereum_metrics",
    messageType: "data",
    data: { type: "pending", body: { pending: n, pad: "x".repeat(pad) } },
    receivedAt: 1_700_000_000_000 + n,
  };
}

const ids = (text: string) => text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).id);

Deno.test("jsonl: one line per message, appended across restarts; a torn last line from a crash is cut at start", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/sub/archive.jsonl`;
  try {
    const first = createJsonlReceiver("archive", { path });
    await first.init!();
    await first.receive([message(1), message(2)]);
    await first.close!();
    // A crash mid-write left half a line (its batch was not acknowledged: it comes again).
    await Deno.writeTextFile(path, '{"id":"m3","agentId":"age', { append: true });
    const second = createJsonlReceiver("archive", { path });
    await second.init!();
    await second.receive([message(3)]);
    await second.close!();
    assert.deepEqual(ids(await Deno.readTextFile(path)), ["m1", "m2", "m3"]);
    assert.ok((await Deno.readTextFile(path)).endsWith("\n"));
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600, "reports carry addresses and users");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jsonl: a write the disk refuses is cut back off the file, so the retry starts a line of its own", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/archive.jsonl`;
  try {
    // A file size limit (ulimit -f 8: 8 KiB in bash) makes the kernel refuse writes past 8 KiB
    // (EFBIG; SIGXFSZ ignored), as a full disk refuses them: a real failed write, mid-batch.
    const script = `
      import { createJsonlReceiver } from "${new URL("./jsonl.ts", import.meta.url).href}";
      const r = createJsonlReceiver("archive", { path: ${JSON.stringify(path)} });
      await r.init();
      const m = (n, pad) => ({ id: "m" + n, agentId: "a", dataType: "d", messageType: "data",
        data: { pad: "x".repeat(pad) }, receivedAt: n });
      await r.receive([m(1, 3000), m(2, 3000)]);
      try { await r.receive([m(3, 3000)]); console.log("written"); } catch { console.log("refused"); }
    `;
    const out = await new Deno.Command("bash", {
      args: ["-c", `ulimit -f 8; trap '' XFSZ; exec "$0" eval "$1"`, Deno.execPath(), script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    assert.equal(stdout, "refused", new TextDecoder().decode(out.stderr));
    const text = await Deno.readTextFile(path);
    assert.deepEqual(ids(text), ["m1", "m2"]); // nothing of m3 left in the file
    assert.ok(text.endsWith("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jsonl: a batch longer than V8's longest string once escaped is written (it failed for good)", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/archive.jsonl`;
  try {
    const receiver = createJsonlReceiver("archive", { path });
    await receiver.init!();
    // 12 reports of 7.5 M control characters (a /data body allows 8 MB), each 6 characters in JSON:
    // 540 M characters in all, past V8's 2^29 - 24 (before: RangeError: Invalid string length).
    const pad = "\u0001".repeat(7_500_000);
    const batch = Array.from(
      { length: 12 },
      (_, n) => ({ ...message(n), data: { type: "pending", body: { pad } } }),
    );
    await receiver.receive(batch);
    await receiver.close!();
    // Every line whole, in order: the file is the lines back to back (they are ASCII once escaped).
    const expected = batch.reduce((n, m) => n + JSON.stringify(m).length + 1, 0);
    assert.ok(expected > 540_000_000);
    assert.equal((await Deno.stat(path)).size, expected);
    const file = await Deno.open(path);
    let newlines = 0;
    for await (const chunk of file.readable) for (const byte of chunk) if (byte === 0x0a) newlines++;
    assert.equal(newlines, 12);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
