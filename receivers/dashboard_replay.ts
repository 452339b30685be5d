/**
 * What the dashboard receiver (dashboard.ts) keeps to replay to a client when it connects: each
 * agent's latest frame per replayed payload type, within a byte budget and an agent cap, the
 * least recently heard-from agents forgotten first.
 */
import { overCapWarning } from "../core/cap_warning.ts";
import { approxJsonBytes } from "../core/json_size.ts";
import { RecencyMap } from "../core/recency_map.ts";
import { utf8Length } from "../http/websocket.ts";

/** One outgoing message; its text is made when a client needs it. */
export interface Frame {
  agentId: string;
  /** The payload until it is serialized; then only the text is kept. */
  data?: Record<string, unknown>;
  text?: string;
  /**
   * Its size as sent (UTF-8 bytes of its text; until it is serialized, an estimate of its
   * payload), counted against maxReplayBytes while it is kept.
   */
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
  /** Whether frames of the agent are kept. */
  has(agentId: string): boolean;
  /** Each agent's kept frames by type, least recently heard-from agent first. */
  agents(): IterableIterator<[string, Map<string, Frame>]>;
  /**
   * Makes each kept frame's text (`serialize`, once per frame) and counts the frame at its length
   * from then on: one kept while no client was connected was counted at an estimate
   * (core/json_size.ts) that its text can be six times over (control characters escaped as
   * `\u0001`, long numbers). A frame that cannot be serialized, or is over maxReplayFrameBytes as
   * text, is dropped, and the agents heard from least recently go while the total is over
   * maxReplayBytes: a replay sends at most that.
   */
  serializeAll(serialize: (frame: Frame) => string | undefined): void;
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

  /** Forgets the agents heard from least recently while over maxReplayBytes (never the last one). */
  function evictOverBudget(): void {
    while (replayBytes > options.maxReplayBytes && agents.size > 1) {
      forgetAgent(agents.oldestKey()!);
      counters.agents_evicted++;
    }
  }

  /** Drops a kept frame that is too large (not replayed: nor is the older report of its type). */
  function skipLarge(last: Map<string, Frame>, type: string): void {
    last.delete(type);
    counters.replay_skipped_large++;
  }

  return {
    remember(agentId, type, frame) {
      if (!replayed.has(type)) return;
      frame.bytes ??= frame.text === undefined
        ? approxJsonBytes(frame.data, options.maxReplayFrameBytes)
        : utf8Length(frame.text);
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
      if (frame.bytes > options.maxReplayFrameBytes) return skipLarge(last, type);
      last.set(type, frame); // in place of the older one: one map operation
      replayBytes += frame.bytes;
      evictOverBudget();
    },
    has: (agentId) => agents.get(agentId) !== undefined,
    agents: () => agents.entries(),
    serializeAll(serialize) {
      // Deleting entries of a Map while iterating it is safe: each is visited at most once.
      for (const [, last] of agents.entries()) {
        for (const [type, frame] of last) {
          if (frame.text !== undefined) continue; // counted at its length when kept
          const text = serialize(frame);
          replayBytes -= frame.bytes ?? 0;
          if (text === undefined) {
            last.delete(type);
            continue;
          }
          frame.text = text;
          frame.data = undefined; // only the text is kept from now on
          frame.bytes = utf8Length(text);
          if (frame.bytes > options.maxReplayFrameBytes) skipLarge(last, type);
          else replayBytes += frame.bytes;
        }
        evictOverBudget();
      }
    },
    stats: () => ({ agents: agents.size, replay_bytes: replayBytes, ...counters }),
  };
}
