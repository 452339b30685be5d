/**
 * Third-party clients as child processes for the tests that run them against the service
 * (tests/real_clients_test.ts, tests/poa_agent_test.ts): their output kept, a real Ethereum node
 * (ganache, from tests/clients), and a service recording what they send.
 */
import type { Message } from "../../core/message.ts";
import { freePort, recorderType } from "./harness.ts";
import { startTestService, type TestService } from "./service.ts";

/** tests/clients: the npm-installed clients (`deno task install-clients`). */
export const CLIENTS = new URL("../clients/", import.meta.url).pathname;
/** A child whose stdout and stderr lines are kept (the last 5,000); killed (SIGKILL) by `stop`. */
export interface Child {
  lines: string[];
  stop(): Promise<void>;
}

/** Starts `command` with `args` in `options.cwd` (default tests/clients). */
export function runChild(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Child {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? CLIENTS,
    env: options.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
      if (lines.length > 5000) lines.splice(0, lines.length - 5000);
    }
  };
  const done = Promise.all([collect(child.stdout), collect(child.stderr), child.status]);
  return {
    lines,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await done;
    },
  };
}

/** A Node child (tests/clients' scripts and packages). */
export function runNode(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): Child {
  return runChild("node", args, options);
}

/** A service whose receiver `rec` records every ethereum and networking report it is given. */
export async function withRecorder(
  config: Record<string, unknown>,
  fn: (service: TestService, messages: Message[]) => Promise<void>,
): Promise<void> {
  const seen: Record<string, { messages: Message[]; inactive: string[] }> = {};
  const service = await startTestService({
    receivers: [{ id: "rec", type: "recorder", subscribe: ["ethereum_metrics", "networking_metrics"] }],
    ...config,
  }, { recorder: recorderType(seen) });
  try {
    await fn(service, seen["rec"]!.messages);
  } finally {
    await service.close();
  }
}

/** The reports of `agentId` whose payload says `type` (block, stats, latency...). */
export function ofType(messages: Message[], agentId: string, type: string): Message[] {
  return messages.filter((m) => m.agentId === agentId && m.data["type"] === type);
}

/** ganache 7.9.2 (tests/clients) on a free port of 127.0.0.1, network id 4242, answering JSON-RPC. */
export async function startGanache(): Promise<
  { rpc(method: string, params?: unknown[]): Promise<unknown>; port: number; stop(): Promise<void> }
> {
  const port = freePort();
  const node = runNode([
    "node_modules/ganache/dist/node/cli.js",
    "--host=127.0.0.1",
    `--port=${port}`,
    "--chain.networkId=4242",
    "--logging.quiet",
  ]);
  let id = 0;
  const rpc = async (method: string, params: unknown[] = []) => {
    const res = await fetch(`http://127.0.0.1:${port}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++id, method, params }),
    });
    const body = await res.json();
    if (body.error) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
    return body.result;
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await rpc("eth_blockNumber");
      break;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`ganache did not start: ${err}\n${node.lines.join("\n")}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { rpc, port, stop: () => node.stop() };
}
