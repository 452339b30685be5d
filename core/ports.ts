/** Free TCP ports for processes told where to listen (the cluster runner, the embedded Postgres, tests). */

/** Ports `freePort` returned in this process. */
const handedOut = new Set<number>();

/**
 * A port free now, below the kernel's ephemeral range: a port from that range can be taken,
 * between this check and the process binding it (or before a restart on the same port), as the
 * source port of some outgoing connection (a NATS node dialling its routes did exactly that).
 * Never the same port twice in one process: ports handed out together are all free now, and none
 * of them bound yet.
 */
export function freePort(hostname = "127.0.0.1"): number {
  let below = 32768;
  try {
    below = Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0]);
  } catch {
    // not Linux: the usual lower bound
  }
  for (let attempt = 0; attempt < 1000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1, below - 10_000));
    if (handedOut.has(port)) continue;
    try {
      Deno.listen({ hostname, port }).close();
      handedOut.add(port);
      return port;
    } catch {
      // taken
    }
  }
  throw new Error(`no free port below ${below}`);
}
