/**
 * A small TCP load balancer for demos and tests: each accepted connection goes to the next
 * upstream in round-robin order and is piped both ways (HTTP keep-alive and websockets stay on
 * the upstream their connection chose). An upstream that refuses a connection is skipped for
 * `downForMs` and the next one is tried, so a killed instance costs its open connections only.
 * In production use any HTTP balancer (HAProxy, nginx, a cloud LB) with a health check on
 * `GET /healthz`.
 */

export interface Upstream {
  hostname: string;
  port: number;
}

export interface BalancerOptions {
  /** Listen address (default 127.0.0.1, port 0 = any free port). */
  hostname?: string;
  port?: number;
  upstreams: Upstream[];
  /** How long an upstream that refused a connection is skipped (default 1000 ms). */
  downForMs?: number;
}

/** A running balancer. */
export interface Balancer {
  port: number;
  /** Connections handed to each upstream, by `host:port`. */
  stats(): Record<string, number>;
  close(): Promise<void>;
}

/** Starts the balancer. */
export function startBalancer(options: BalancerOptions): Balancer {
  if (options.upstreams.length === 0) throw new Error("balancer: no upstreams");
  const listener = Deno.listen({ hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0 });
  const downForMs = options.downForMs ?? 1000;
  const downUntil = new Map<number, number>();
  const counts = new Map<string, number>();
  const open = new Set<Deno.Conn>();
  let next = 0;
  let closed = false;

  async function connectUpstream(): Promise<{ conn: Deno.Conn; name: string } | undefined> {
    const n = options.upstreams.length;
    for (let tried = 0; tried < n; tried++) {
      const i = next++ % n;
      if ((downUntil.get(i) ?? 0) > Date.now() && tried < n - 1) continue;
      const up = options.upstreams[i]!;
      try {
        const conn = await Deno.connect({ hostname: up.hostname, port: up.port });
        downUntil.delete(i);
        return { conn, name: `${up.hostname}:${up.port}` };
      } catch {
        downUntil.set(i, Date.now() + downForMs);
      }
    }
    return undefined;
  }

  async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    try {
      await from.readable.pipeTo(to.writable, { preventClose: true });
    } catch {
      // either side went away
    }
    try {
      await to.closeWrite();
    } catch {
      // already closed
    }
  }

  async function handle(client: Deno.Conn): Promise<void> {
    open.add(client);
    const upstream = await connectUpstream();
    if (!upstream) {
      open.delete(client);
      try {
        client.close();
      } catch { /* closed */ }
      return;
    }
    const { conn, name } = upstream;
    counts.set(name, (counts.get(name) ?? 0) + 1);
    open.add(conn);
    await Promise.all([pipe(client, conn), pipe(conn, client)]);
    for (const c of [client, conn]) {
      open.delete(c);
      try {
        c.close();
      } catch { /* closed */ }
    }
  }

  const accepting = (async () => {
    for await (const conn of listener) {
      if (closed) {
        conn.close();
        break;
      }
      handle(conn).catch(() => {});
    }
  })().catch(() => {});

  return {
    port: (listener.addr as Deno.NetAddr).port,
    stats: () => Object.fromEntries(counts),
    async close() {
      if (closed) return;
      closed = true;
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      open.clear();
      await accepting;
    },
  };
}
