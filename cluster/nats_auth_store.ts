/**
 * Invalidations over a NATS subject for an AuthStore that cannot push them itself (Deno KV,
 * `cluster.authStore: "kv"` with `kv.path` a KV Connect URL every instance opens): each change
 * made through this instance is published, and `watch` hears every instance's changes.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { AuthChange, AuthStore } from "../auth/store.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Wraps `store` so its changes reach every instance's caches through `subject`. */
export function withNatsInvalidations(store: AuthStore, nc: NatsConnection, subject: string): AuthStore {
  function announce(change: AuthChange): void {
    try {
      nc.publish(subject, encoder.encode(JSON.stringify(change)));
    } catch (err) {
      console.error("auth store: publishing an invalidation failed:", err);
    }
  }
  return {
    ...store,
    async createUser(user) {
      const result = await store.createUser(user);
      if (result === "created") announce({ kind: "user", name: user.name });
      return result;
    },
    async deleteUser(name) {
      const deleted = await store.deleteUser(name);
      if (deleted) announce({ kind: "user", name });
      return deleted;
    },
    async setActive(name, active, tokenEpoch) {
      // The new epoch goes with it: without it a re-activated user's old tokens worked again.
      const found = await store.setActive(name, active, tokenEpoch);
      if (found) announce({ kind: "user", name });
      return found;
    },
    async banToken(ban) {
      await store.banToken(ban);
      announce({ kind: "ban", jti: ban.jti, exp: ban.exp });
    },
    watch(onChange) {
      const sub = nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            const v = JSON.parse(decoder.decode(msg.data));
            if (v?.kind === "user" && typeof v.name === "string") onChange({ kind: "user", name: v.name });
            else if (v?.kind === "ban" && typeof v.jti === "string" && typeof v.exp === "number") {
              onChange({ kind: "ban", jti: v.jti, exp: v.exp });
            }
          } catch {
            // not ours
          }
        },
      });
      const unwatchInner = store.watch(onChange);
      return () => {
        sub.unsubscribe();
        unwatchInner();
      };
    },
  };
}
