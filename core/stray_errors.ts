/**
 * Network errors that escape a library's socket: a peer's reset or a broken pipe that arrives
 * after the library stopped listening (nats.js's node transport removes its socket's listeners,
 * then destroys it; Deno's node:net still emits the `read ECONNRESET` that was on its way, with no
 * listener, which throws from the read callback). Uncaught, Deno ends the process, dropping every
 * connection and what the queues held in memory; the library itself has already dealt with the
 * connection. Such errors are logged and counted instead. Anything else still ends the process.
 */

/** `code`s of errors a socket gets from its peer or the network, never from our own logic. */
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
]);

/** Whether an uncaught error or unhandled rejection is a peer's or the network's (see above). */
export function isStrayNetworkError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  return typeof code === "string" && NETWORK_CODES.has(code);
}

export interface StrayErrorGuard {
  /** Stray network errors caught so far. */
  count(): number;
  /** Removes the listeners. */
  remove(): void;
}

/** Listens for uncaught errors and unhandled rejections, keeping the process alive on stray network ones. */
export function guardStrayNetworkErrors(log: (line: string) => void = console.error): StrayErrorGuard {
  let count = 0;
  const caught = (err: unknown, what: string): boolean => {
    if (!isStrayNetworkError(err)) return false;
    count++;
    log(`warning: ${what} from a socket, not handled by its library: ${(err as Error).message}; carrying on`);
    return true;
  };
  const onError = (event: ErrorEvent) => {
    if (caught(event.error, "uncaught error")) event.preventDefault();
  };
  const onRejection = (event: PromiseRejectionEvent) => {
    if (caught(event.reason, "unhandled rejection")) event.preventDefault();
  };
  globalThis.addEventListener("error", onError);
  globalThis.addEventListener("unhandledrejection", onRejection);
  return {
    count: () => count,
    remove() {
      globalThis.removeEventListener("error", onError);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    },
  };
}
