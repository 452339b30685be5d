/** Entry point: reads the config, starts the service, and stops it on SIGINT/SIGTERM. */
import { ConfigError, loadProcessConfig } from "./core/config.ts";
import { ListenError } from "./http/listener.ts";
import { builtinReceiverTypes, checkReceiverTypes } from "./receivers/registry.ts";
import { startService } from "./service.ts";

async function main(): Promise<number> {
  const loaded = await loadProcessConfig();
  if (!loaded.ok) {
    console.error(loaded.message);
    return 2;
  }
  const config = loaded.config;
  let service;
  try {
    checkReceiverTypes(builtinReceiverTypes(), config.receivers ?? []);
    service = await startService(config, { env: loaded.env });
  } catch (err) {
    // Start-up errors an operator can fix (a port in use, a bad receiver option, an unreachable
    // database) are one line and exit code 2, not a stack trace.
    const known = err instanceof ConfigError || err instanceof ListenError;
    console.error(
      known ? (err as Error).message : `start-up failed: ${err instanceof Error ? err.message : err}`,
    );
    return 2;
  }
  const stopped = Promise.withResolvers<void>();
  let stopping = false;
  const onSignal = (signal: Deno.Signal) => {
    if (stopping) {
      console.error(`${signal} again: exiting at once`);
      Deno.exit(130);
    }
    stopping = true;
    console.log(`${signal}: stopping (send it again to exit at once)`);
    service.shutdown().then(stopped.resolve, stopped.reject);
  };
  Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));
  await stopped.promise;
  console.log("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
