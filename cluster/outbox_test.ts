import assert from "node:assert/strict";
import type { Message } from "../core/message.ts";
import { openOutbox } from "./outbox.ts";

const msg = (n: number): Message => ({
  id: `m${n}`,
  agentId: "a",
  dataType: "ethereum_metrics",
  messageType: "data",
  data: { n },
  receivedAt: n,
  bytes: 10,
});

async function until(predicate: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("outbox: reports accepted while the queue is away are on disk, published in order once it is back, and survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outbox-" });
  try {
    let down = true;
    const published: string[] = [];
    const publish = (messages: Message[]) => {
      if (down) return Promise.reject(new Error("no responders"));
      published.push(...messages.map((m) => m.id));
      return Promise.resolve();
    };
    const first = await openOutbox({ dir, maxBytes: 1 << 20, publish });
    assert.equal(first.busy(), false);
    await Promise.all([first.accept(msg(1)), first.accept(msg(2))]); // one segment, synced
    await first.accept(msg(3));
    assert.equal(first.busy(), true);
    assert.equal(first.stats().pending, 3);
    await first.close(); // the process stops with them still in the outbox

    const second = await openOutbox({ dir, maxBytes: 1 << 20, publish });
    assert.equal(second.stats().pending, 3); // found on disk
    assert.equal(second.busy(), true);
    down = false;
    await until(() => !second.busy(), "the outbox to empty");
    assert.deepEqual(published, ["m1", "m2", "m3"]);
    assert.equal(second.stats().republished_total, 3);
    await second.accept(msg(4)); // and a later one
    await until(() => published.length === 4, "m4");
    await second.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outbox: full at its byte bound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outbox-" });
  try {
    const outbox = await openOutbox({ dir, maxBytes: 250, publish: () => Promise.reject(new Error("down")) });
    assert.equal(outbox.full(), false);
    await outbox.accept(msg(1));
    await outbox.accept(msg(2));
    assert.equal(outbox.full(), true, `bytes ${outbox.stats().bytes}`);
    await outbox.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outbox: a segment that cannot be read (I/O error, wrong owner) is tried again, the instance does not die", async () => {
  const dir = await Deno.makeTempDir({ prefix: "outbox-" });
  try {
    let down = true;
    const published: string[] = [];
    const publish = (messages: Message[]) => {
      if (down) return Promise.reject(new Error("no responders"));
      published.push(...messages.map((m) => m.id));
      return Promise.resolve();
    };
    const outbox = await openOutbox({ dir, maxBytes: 1 << 20, publish });
    await outbox.accept(msg(1));
    await until(() => outbox.stats().failures_total > 0, "a failed publish");
    // The segment becomes unreadable in a way that is not a torn file: EISDIR here (EIO, EACCES alike).
    const [name] = [...Deno.readDirSync(dir)].map((e) => e.name);
    const content = Deno.readFileSync(`${dir}/${name}`);
    Deno.removeSync(`${dir}/${name}`);
    Deno.mkdirSync(`${dir}/${name}`);
    down = false;
    // Before: the read threw out of the publish loop, an unhandled rejection that ended the process.
    const failures = outbox.stats().failures_total;
    await until(() => outbox.stats().failures_total > failures + 1, "reads tried again");
    assert.deepEqual(published, []);
    Deno.removeSync(`${dir}/${name}`);
    Deno.writeFileSync(`${dir}/${name}`, content); // readable again
    await until(() => !outbox.busy(), "the outbox to empty");
    assert.deepEqual(published, ["m1"]);
    await outbox.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
