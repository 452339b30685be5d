/** Entry point: reads the config, starts the service, and stops it on SIGINT/SIGTERM. */
import { ConfigError, loadProcessConfig } from "./core/config.ts";
import { ListenError } from "./http/listener.ts";
import { guardStrayNetworkErrors } from "./core/stray_errors.ts";
import { builtinReceiverTypes, checkReceivers } from "./receivers/registry.ts";
import { startService } from "./service.ts";

/**
 * A signal within this long of the first is that same signal again: one Ctrl-C reaches the
 * service more than once when it runs under `npx … task start` (the terminal signals the
 * whole process group, and npm exec passes the signal on to its child as well).
 */
const REPEAT_GRACE_MS = 1_000;

async function main(): Promise<number> {
  const loaded = await loadProcessConfig();
  if (!loaded.ok) {
    console.error(loaded.message);
    return 2;
  }
  const config = loaded.config;
  // A peer's reset that a library's socket throws after it stopped listening must not end the
  // process and what its queues hold (a NATS server refusing the instance did, 7 times in 10).
  const stray = guardStrayNetworkErrors();
  let service;
  try {
    checkReceivers(builtinReceiverTypes(), config.receivers ?? []);
    service = await startService(config, { env: loaded.env, strayErrors: stray.count });
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
  let stoppingSince: number | null = null;
  const onSignal = (signal: Deno.Signal) => {
    if (stoppingSince !== null) {
      if (performance.now() - stoppingSince < REPEAT_GRACE_MS) return; // the same Ctrl-C
      console.error(`${signal} again: exiting at once`);
      Deno.exit(130);
    }
    stoppingSince = performance.now();
    console.log(`${signal}: stopping (send it again after a second to exit at once)`);
    service.shutdown().then(stopped.resolve, stopped.reject);
  };
  Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));
  // A closing terminal, or `kill -HUP` (logrotate's habit): it ended the process at once, every
  // report in memory lost. It stops as SIGTERM does.
  Deno.addSignalListener("SIGHUP", () => onSignal("SIGHUP"));
  await stopped.promise;
  console.log("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main());
