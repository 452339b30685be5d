/** A worker thread of the agent simulator: runs one slice of the agents (see sim.ts). */
import { type AgentSlice, simulateAgents } from "./sim.ts";

const scope = self as unknown as {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};
const controller = new AbortController();

scope.onmessage = (e: MessageEvent) => {
  const m = e.data as { type: "start"; slice: AgentSlice } | { type: "stop" };
  if (m.type === "stop") {
    controller.abort();
    return;
  }
  simulateAgents(m.slice, {
    signal: controller.signal,
    onSecond: (second) => scope.postMessage({ type: "second", second }),
  }).then(
    (result) => scope.postMessage({ type: "done", result }),
    (err) => scope.postMessage({ type: "error", message: String((err as Error)?.stack ?? err) }),
  );
};

// Loaded: the run's start time is set once every worker is here (loading can take a while).
scope.postMessage({ type: "ready" });
