/** Report payloads shaped like the original agent's (`{type, body}` under `data`). */
import type { Message } from "../../core/message.ts";

export const information = {
  type: "information",
  body: {
    name: "node-1",
    contact: "ops@example.org",
    coinbase: "0x0000000000000000000000000000000000000001",
    node: "Parity-Ethereum//v2.0.5-stable/x86_64-linux-gnu/rustc1.29.0",
    net: "77",
    protocol: "63",
    api: "0.4.1",
    port: 30303,
    os: "linux",
    os_v: "4.15.0",
    client: "0.1.0",
    canUpdateHistory: true,
  },
};

export const statisticsSyncing = {
  type: "statistics",
  body: {
    active: true,
    mining: false,
    hashrate: 0,
    peers: 12,
    gasPrice: 1000000000,
    syncing: { currentBlock: 4000, highestBlock: 5000, startingBlock: 1 },
    uptime: 100,
  },
};

export const statisticsSynced = {
  type: "statistics",
  body: { active: true, mining: true, hashrate: 25, peers: 3, gasPrice: 0, syncing: false, uptime: 100 },
};

export const block = {
  type: "block",
  body: {
    number: 3887707,
    hash: "0x82e5bd4bd27b6da1ae9f0d7a4aa4ef4f1fe6a3d0ec3a8a84ddd9d0da7e4a2c55",
    parentHash: "0x5e0ea3b47bd6b47fbdf5e4a1bcd6ab96cd6fd2ab0f2de5bdc9c6e0e1ab1b1c11",
    timestamp: 1531906468,
    miner: "0x0000000000000000000000000000000000000000",
    gasUsed: 21000,
    gasLimit: 8000000,
    difficulty: "340282366920938463463374607431768211454",
    totalDifficulty: "1322920283192874716307958298519232612302108963",
    transactions: ["0xabc"],
    transactionsRoot: "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421",
    stateRoot: "0x4e30e8d3e1ee2c8fd7ab3b0b4e2bbbd0e0b2b2d3c0c3b8b1b0c1d2e3f4a5b6c7",
    uncles: [],
  },
};

export const pending = { type: "pending", body: { pending: 7 } };
export const history = { type: "history", body: { history: [block.body] } };
export const latency = { type: "latency", body: { latency: 12 } };
export const systemStatistics = {
  type: "statistics",
  body: { cpu_load: 0.42, memory_usage: 61.5, disk_usage: 73 },
};

/** Every original data shape with its metric type. */
export const ALL_REPORTS: Array<{ type: string; data: Record<string, unknown> }> = [
  { type: "ethereum_metrics", data: information },
  { type: "ethereum_metrics", data: statisticsSyncing },
  { type: "ethereum_metrics", data: statisticsSynced },
  { type: "ethereum_metrics", data: block },
  { type: "ethereum_metrics", data: pending },
  { type: "ethereum_metrics", data: history },
  { type: "networking_metrics", data: latency },
  { type: "system_metrics", data: systemStatistics },
];

/** A report as the bus carries it: `data` from `agentId`, of `dataType`, accepted at `receivedAt`. */
export function reportMessage(
  agentId: string,
  data: Record<string, unknown>,
  overrides: Partial<Message> = {},
): Message {
  return {
    id: crypto.randomUUID(),
    agentId,
    dataType: "ethereum_metrics",
    messageType: "data",
    data,
    receivedAt: Date.now(),
    ...overrides,
  };
}

/**
 * Queue item number `n` for the queue, spill and runner tests: message id `m<n>`, `data: {n}`,
 * of `bytes` (absent when not given) and received at `receivedAt` (default now).
 */
export function numberedItem(
  n: number,
  options: { bytes?: number; receivedAt?: number } = {},
): { kind: "message"; message: Message } {
  return {
    kind: "message",
    message: {
      id: `m${n}`,
      agentId: "a",
      dataType: "ethereum_metrics",
      messageType: "data",
      data: { n },
      receivedAt: options.receivedAt ?? Date.now(),
      ...(options.bytes === undefined ? {} : { bytes: options.bytes }),
    },
  };
}

/**
 * Makes the file at `path` impossible to remove, as a read-only mount would (root ignores file
 * permissions): it becomes a non-empty directory of that name.
 */
export async function makeUnremovable(path: string): Promise<void> {
  await Deno.remove(path);
  await Deno.mkdir(`${path}/x`, { recursive: true });
}

/** Makes every write into the spill directory `dir` fail (ENOTDIR): the directory becomes a file. */
export async function failSpillWrites(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true });
  await Deno.writeTextFile(dir, "");
}
