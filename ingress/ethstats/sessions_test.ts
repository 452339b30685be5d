import assert from "node:assert/strict";
import { createKvAuthStore } from "../../auth/kv_store.ts";
import { createAuthService } from "../../auth/service.ts";
import { createActivityMonitor } from "../../core/activity.ts";
import { createLocalBus } from "../../core/bus.ts";
import { configSchema } from "../../core/config.ts";
import { createLoginGate, createPenaltyBox, type LoginGate, TRY_AGAIN_LATER } from "./connection.ts";
import { createEthstatsSessions, type EthstatsSessions } from "./sessions.ts";

/** The side of a websocket the sessions use: what they sent, and how they closed it. */
class SocketDouble {
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent: string[] = [];
  closedWith: number | undefined;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: (() => void) | null = null;
  onopen: (() => void) | null = null;
  send(frame: string): void {
    this.sent.push(frame);
  }
  close(code: number): void {
    if (this.readyState === WebSocket.CONNECTING) return; // nothing goes out before the upgrade
    this.closedWith = code;
    this.readyState = WebSocket.CLOSED;
  }
}

/** Runs `fn` with sessions behind `gate` (auth over an in-memory KV), closed after. */
async function withSessions(
  gate: LoginGate,
  fn: (sessions: EthstatsSessions, gate: LoginGate) => Promise<void> | void,
): Promise<void> {
  const kv = await Deno.openKv(":memory:");
  const auth = await createAuthService({
    store: createKvAuthStore(kv),
    secret: crypto.randomUUID() + crypto.randomUUID(),
    ttlSeconds: 3600,
    admins: [],
  });
  const activity = createActivityMonitor({ timeoutMs: 60_000, onInactive: () => {} });
  const sessions = createEthstatsSessions({
    auth,
    bus: createLocalBus([]),
    activity,
    options: configSchema.parse({}).ethstats,
    share: (block) => block,
    gate,
    penalties: createPenaltyBox(0),
  });
  try {
    await fn(sessions, gate);
  } finally {
    sessions.close();
    activity.close();
    auth.close();
    kv.close();
  }
}

Deno.test("a full login gate makes room by closing the socket silent longest at the address holding the most", async () => {
  await withSessions(createLoginGate(3, 3), (sessions, gate) => {
    const open = (address: string) => {
      assert.equal(gate.admit(address), null);
      const socket = new SocketDouble();
      sessions.open(socket as unknown as WebSocket, address);
      return socket;
    };
    const b1 = open("10.0.0.2");
    const a1 = open("10.0.0.1");
    const a2 = open("10.0.0.1");
    assert.equal(gate.admit("10.0.0.3"), "busy");
    // 10.0.0.1 holds two: its oldest goes, not b1, older still.
    assert.equal(sessions.evictIdle(), true);
    assert.equal(a1.closedWith, TRY_AGAIN_LATER);
    assert.match(a1.sent[0]!, /"error":"busy"/);
    assert.equal(b1.closedWith, undefined);
    assert.equal(gate.count(), 2);
    // One each: the oldest.
    assert.equal(sessions.evictIdle(), true);
    assert.equal(b1.closedWith, TRY_AGAIN_LATER);
    // A socket that sent its hello is logging in: never evicted (its password check is under way).
    a2.onmessage!({ data: '{"emit":["hello",{"id":"n","info":{"name":"n"},"secret":"u:wrong-password"}]}' });
    assert.equal(sessions.evictIdle(), false);
    assert.equal(a2.closedWith, undefined);
  });
});

Deno.test("a socket evicted before its upgrade completed is told why once open (was 1001 server shutting down)", async () => {
  await withSessions(createLoginGate(1, 1), (sessions, gate) => {
    assert.equal(gate.admit("10.0.0.1"), null);
    const early = new SocketDouble();
    early.readyState = WebSocket.CONNECTING;
    sessions.open(early as unknown as WebSocket, "10.0.0.1");
    assert.equal(gate.admit("10.0.0.2"), "busy");
    assert.equal(sessions.evictIdle(), true);
    early.readyState = WebSocket.OPEN;
    early.onopen!();
    assert.match(early.sent[0] ?? "", /"error":"busy"/);
    assert.equal(early.closedWith, TRY_AGAIN_LATER);
  });
});
