/** `deno task cluster`'s options (tasks/cluster.ts): checked strictly, with the usage text. */
import { parseArgs } from "node:util";

const USAGE =
  `usage: deno task cluster [--port 4000] [--instances 3] [--nats-nodes 3] [--dir data/cluster] [--hostname 127.0.0.1]
  --port        the balancer's port; the instances take the next ones (0: free ports for all)
  --instances   how many service instances (at least 1)
  --nats-nodes  how many nats-server processes in the NATS cluster (at least 1)
  --dir         where the configs, secrets and stores go
  --hostname    where the balancer and the instances listen (NATS and the embedded Postgres: 127.0.0.1)`;

/** The runner's options; a message (usage included) for anything else, `--help` too. */
export function parseClusterArgs(
  args: string[],
): { ok: true; port: number; instances: number; natsNodes: number; dir: string; hostname: string } | {
  ok: false;
  message: string;
  /** Asked for (`--help`): printed on stdout, exit code 0. */
  help?: true;
} {
  let values;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: "string", default: "4000" },
        instances: { type: "string", default: "3" },
        "nats-nodes": { type: "string", default: "3" },
        dir: { type: "string", default: "data/cluster" },
        hostname: { type: "string", default: "127.0.0.1" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    // A typo (--instance 1) started the default 3 instances; --help started a cluster on port 4000.
    return { ok: false, message: `${(err as Error).message}\n${USAGE}` };
  }
  if (values.help) return { ok: false, message: USAGE, help: true };
  const number = (name: "port" | "instances" | "nats-nodes", min: number) => {
    const text = values[name];
    const n = Number(text);
    return /^\d+$/.test(text) && n >= min ? n : undefined; // not "" (Number: 0), " ", 0x10, 1e3
  };
  const port = number("port", 0); // 0: free ports for the balancer and every instance
  const instances = number("instances", 1);
  const natsNodes = number("nats-nodes", 1);
  if (port === undefined || instances === undefined || natsNodes === undefined) {
    return {
      ok: false,
      message:
        `--instances and --nats-nodes take whole numbers of at least 1, --port of at least 0\n${USAGE}`,
    };
  }
  if (port > 0 && port + instances > 65535) {
    return {
      ok: false,
      message: `--port ${port}: the ${instances} instance(s) take the ports after it, past 65535`,
    };
  }
  return { ok: true, port, instances, natsNodes, dir: values.dir, hostname: values.hostname };
}
