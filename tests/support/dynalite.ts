/** An in-process, in-memory DynamoDB (npm `dynalite`) that a test can stop and restart. */
import dynalite from "dynalite";
import { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A running dynalite: `stop()`/`start()` simulate an outage, `close()` ends it. */
export interface DynaliteHandle {
  /** `http://127.0.0.1:<port>`; stays the same across stop/start. */
  endpoint: string;
  /** Stops listening and drops open connections; the in-memory tables survive. */
  stop(): Promise<void>;
  /** Listens again on the same port with the same data. */
  start(): Promise<void>;
  /** Ends the server and its store. */
  close(): Promise<void>;
}

/** Starts dynalite on a random 127.0.0.1 port (tables become ACTIVE at once). */
export async function startDynalite(): Promise<DynaliteHandle> {
  const server: Server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await listen(server, 0);
  const port = (server.address() as AddressInfo).port;
  let listening = true;
  let closed = false;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (!listening) return;
      listening = false;
      // dynalite's own `close` also closes (and later recreates, empty) its store; the plain
      // http close keeps the data for `start()`.
      const done = new Promise<void>((resolve, reject) =>
        Server.prototype.close.call(server, (err?: Error) => err ? reject(err) : resolve())
      );
      server.closeAllConnections?.();
      await done;
    },
    async start() {
      if (listening || closed) return;
      await listen(server, port);
      listening = true;
    },
    async close() {
      if (closed) return;
      closed = true;
      // dynalite's close needs a listening server to close its store too.
      if (!listening) await listen(server, port);
      listening = false;
      const done = new Promise<void>((resolve, reject) =>
        server.close((err?: Error) => err ? reject(err) : resolve())
      );
      server.closeAllConnections?.();
      await done;
    },
  };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      resolve();
    });
  });
}
