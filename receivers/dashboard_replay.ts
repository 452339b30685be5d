/**
 * What the dashboard receiver (dashboard.ts) keeps to replay to a client when it connects: each
 * agent's latest frame per replayed payload type, within a byte budget and an agent cap, the
 * least recently heard-from agents forgotten first.
 */
import { overCapWarning } from "../core/cap_warning.ts";
import { approxJsonBytes } from "../core/json_size.ts";
import { RecencyMap } from "../core/recency_map.ts";

/** One outgoing message; its text is made when a client needs it. */
export interface Frame {
  agentId: string;
  /** The payload until it is serialized; then only the text is kept. */
  data?: Record<string, unknown>;
  text?: string;
  /** About its size as text, counted against maxReplayBytes while it is kept. */
  bytes?: number;
}

export interface ReplayOptions {
  replayTypes: readonly string[];
  maxAgents: number;
  maxReplayBytes: number;
  maxReplayFrameBytes: number;
  /** Told once, when agents past maxAgents start being forgotten. */
  warn(line: string): void;
}

export interface ReplayStore {
  /** Keeps `frame` as the agent's latest of `type` (types not replayed are ignored). */
  remember(agentId: string, type: string, frame: Frame): void;
  /** Each agent's kept frames by type, least recently heard-from agent first. */
  agents(): IterableIterator<[string, Map<string, Frame>]>;
  /** Drops one kept frame of an agent (one that cannot be serialized). */
  unkeep(last: Map<string, Frame>, type: string): void;
  stats(): { agents: number; replay_bytes: number; agents_evicted: number; replay_skipped_large: number };
}

export function createReplayStore(options: ReplayOptions): ReplayStore {
  const replayed = new Set(options.replayTypes);
  /** Latest frame per replayed type, per agent; least recently updated agent first. */
  const agents = new RecencyMap<string, Map<string, Frame>>();
  /** Bytes of the frames kept for replay (their `bytes`). */
  let replayBytes = 0;
  const counters = { agents_evicted: 0, replay_skipped_large: 0 };
  /** Told once: agents past maxAgents take turns being forgotten. */
  let warnedMaxAgents = false;

  function forgetAgent(agentId: string): void {
    const last = agents.get(agentId);
    if (last === undefined) return;
    for (const frame of last.values()) replayBytes -= frame.bytes ?? 0;
    agents.delete(agentId);
  }

  return {
    remember(agentId, type, frame) {
      if (!replayed.has(type)) return;
      frame.bytes = frame.text?.length ?? approxJsonBytes(frame.data, options.maxReplayFrameBytes);
      let last = agents.touch(agentId);
      if (last === undefined) {
        last = new Map();
        if (agents.size >= options.maxAgents) {
          const oldest = agents.oldestKey();
          if (oldest !== undefined) forgetAgent(oldest);
          counters.agents_evicted++;
          if (!warnedMaxAgents) {
            warnedMaxAgents = true;
            options.warn(overCapWarning("maxAgents", options.maxAgents, "agents", "agents_evicted"));
          }
        }
        agents.set(agentId, last);
      }
      replayBytes -= last.get(type)?.bytes ?? 0;
      if (frame.bytes > options.maxReplayFrameBytes) {
        // Not kept; nor is the older report of this type, which would replay as the latest.
        last.delete(type);
        counters.replay_skipped_large++;
        return;
      }
      last.set(type, frame); // in place of the older one: one map operation
      replayBytes += frame.bytes;
      while (replayBytes > options.maxReplayBytes && agents.size > 1) {
        forgetAgent(agents.oldestKey()!);
        counters.agents_evicted++;
      }
    },
    agents: () => agents.entries(),
    unkeep(last, type) {
      replayBytes -= last.get(type)?.bytes ?? 0;
      last.delete(type);
    },
    stats: () => ({ agents: agents.size, replay_bytes: replayBytes, ...counters }),
  };
}
