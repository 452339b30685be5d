/** Entry point: reads the config, starts the service, and stops it on SIGINT/SIGTERM. */
import { ConfigError, configPathFrom, loadConfig } from "./core/config.ts";
import { startService } from "./service.ts";

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  let config;
  try {
    config = await loadConfig(configPathFrom(Deno.args, env), env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      return 2;
    }
    throw err;
  }
  const service = await startService(config, { env });
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
