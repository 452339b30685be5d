/** Starts the whole service in-process on 127.0.0.1 with a temporary data directory. */
import { parseConfig } from "../../core/config.ts";
import { builtinReceiverTypes } from "../../receivers/registry.ts";
import type { ReceiverType } from "../../core/receiver.ts";
import { type Service, startService } from "../../service.ts";
import { reportMessage } from "./fixtures.ts";
import { ADMIN } from "./harness.ts";

export interface TestService {
  service: Service;
  /** `http://127.0.0.1:<port>` of the first listener. */
  base: string;
  dataDir: string;
  wsSecret: string;
  /** Shuts the service down (data dir kept until `cleanup`). */
  stop(): Promise<void>;
  /** Stops and removes the data directory. */
  close(): Promise<void>;
}

/** Starts a service; `config` is merged over test defaults (no receivers unless given). */
export async function startTestService(
  config: Record<string, unknown> = {},
  extraTypes: Record<string, ReceiverType> = {},
  dataDir?: string,
): Promise<TestService> {
  const dir = dataDir ?? await Deno.makeTempDir({ prefix: "poa-test-" });
  const wsSecret = "ws-secret-for-tests";
  const parsed = parseConfig({
    listen: [{ hostname: "127.0.0.1", port: 0 }],
    admins: [ADMIN],
    jwt: { secret: "a-test-secret-of-enough-length" },
    kv: { path: `${dir}/poa.kv` },
    dataDir: dir,
    receivers: [],
    ...config,
  });
  const types = builtinReceiverTypes();
  for (const [name, type] of Object.entries(extraTypes)) types.set(name, type);
  const service = await startService(parsed, {
    receiverTypes: types,
    log: () => {},
    env: { POA_WS_SECRET: wsSecret },
  });
  const listener = service.listeners[0]!;
  return {
    service,
    base: `${listener.tls ? "https" : "http"}://127.0.0.1:${listener.port}`,
    dataDir: dir,
    wsSecret,
    stop: () => service.shutdown(),
    async close() {
      await service.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Publishes a report straight onto the service's bus, as the ingress would after its checks:
 * for tests of what receivers make of reports (known arrival times, thousands of nodes) where
 * the protocol path is not what is tested. `receivedAt` defaults to now.
 */
export function publishReport(
  service: TestService,
  agentId: string,
  data: Record<string, unknown>,
  options: { dataType?: string; receivedAt?: number } = {},
): void {
  service.service.bus.publish(reportMessage(agentId, data, options));
}
