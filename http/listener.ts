/**
 * A listener that keeps listening. When Deno's accept loop fails (the process is out of file
 * descriptors: `Too many open files`, with thousands of idle or half-sent connections held
 * open), `Deno.serve` stops accepting for good and its `finished` promise rejects; left alone
 * the rejection ends the process. Here it is logged and counted, and the same address is served
 * again after a pause (retried while descriptors are still short), so the service keeps its
 * sockets, its queues and its embedded Postgres, and new connections are accepted again as soon
 * as descriptors free up.
 */

export interface ListenOptions {
  hostname: string;
  port: number;
  tls?: { cert: string; key: string };
  handler: Deno.ServeHandler<Deno.NetAddr>;
  onError: (error: unknown) => Response | Promise<Response>;
  /** Pause before listening again (default 500 ms). */
  retryMs?: number;
  log?: (line: string) => void;
}

/** A listener could not be opened (port in use, no permission…): a start-up error, said in one line. */
export class ListenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ListenError";
  }
}

export interface SupervisedListener {
  addr: Deno.NetAddr;
  /** Times the accept loop failed and the address was served again. */
  restarts(): number;
  close(): Promise<void>;
}

/** Serves `handler` on the address until `close()`, listening again whenever accepting fails. */
export function listenSupervised(options: ListenOptions): SupervisedListener {
  const log = options.log ?? ((line: string) => console.error(line));
  const retryMs = options.retryMs ?? 500;
  let closed = false;
  let restarts = 0;
  let controller = new AbortController();
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let current: Promise<void> = Promise.resolve();

  function serve(port: number): Deno.HttpServer<Deno.NetAddr> {
    controller = new AbortController();
    const common = {
      hostname: options.hostname,
      port,
      signal: controller.signal,
      onListen: () => {},
      onError: options.onError,
    };
    return options.tls
      ? Deno.serve({ ...common, ...options.tls }, options.handler)
      : Deno.serve(common, options.handler);
  }

  function watch(server: Deno.HttpServer<Deno.NetAddr>, port: number): void {
    current = server.finished.then(
      () => {},
      (err) => {
        if (closed) return;
        restarts++;
        log(`listener ${options.hostname}:${port} stopped accepting (${err}); listening again`);
        retry(port);
      },
    );
  }

  function retry(port: number): void {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closed) return;
      try {
        watch(serve(port), port);
      } catch (err) {
        log(`listener ${options.hostname}:${port}: cannot listen yet (${err}); retrying`);
        retry(port);
      }
    }, retryMs);
  }

  let first: Deno.HttpServer<Deno.NetAddr>;
  try {
    first = serve(options.port);
  } catch (err) {
    const why = err instanceof Deno.errors.AddrInUse
      ? "the address is already in use"
      : err instanceof Deno.errors.PermissionDenied
      ? "permission denied (ports below 1024 need privileges)"
      : (err as Error).message;
    throw new ListenError(`cannot listen on ${options.hostname}:${options.port}: ${why}`);
  }
  const addr = first.addr;
  watch(first, addr.port); // port 0 → the one chosen, kept for every restart
  return {
    addr,
    restarts: () => restarts,
    async close() {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      controller.abort();
      await current;
    },
  };
}
