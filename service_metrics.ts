/** The service's own figures for `/metrics`, beside the routes' and receivers' (routes/ops.ts). */
import type { AgentIdLimit } from "./core/agent_ids.ts";
import type { SharedBlocks } from "./core/shared_blocks.ts";
import type { ByteBudget } from "./http/byte_budget.ts";
import { type Family, samplesBy } from "./http/prometheus.ts";

export interface ServiceFigures {
  /** Times the listeners' accept loops failed and listened again, in all. */
  listenerRestarts(): number;
  /** Stray network errors the process survived (main.ts's guard, core/stray_errors.ts). */
  strayErrors?: () => number;
  bodyBudget: ByteBudget;
  blocks: SharedBlocks;
  agentIds: AgentIdLimit;
  ethstats?: { stats(): Record<string, number> };
}

export function serviceFamilies(f: ServiceFigures): Family[] {
  const families: Family[] = [{
    name: "poa_listener_restarts_total",
    type: "counter",
    help: "Times a listener's accept loop failed (e.g. out of file descriptors) and it listened again.",
    samples: [{ value: f.listenerRestarts() }],
  }];
  if (f.strayErrors) {
    families.push({
      name: "poa_stray_network_errors_total",
      type: "counter",
      help: "Network errors thrown from sockets no library listened on (logged; the process carried on).",
      samples: [{ value: f.strayErrors() }],
    });
  }
  const body = f.bodyBudget.stats();
  const blocks = f.blocks.stats();
  const agentIds = f.agentIds.stats();
  families.push(
    {
      name: "poa_request_body_bytes",
      type: "gauge",
      help: "Bytes of request bodies being received now (bounded by bodyBytesInFlight).",
      samples: samplesBy("stat", { in_flight: body.bytes }),
    },
    {
      name: "poa_request_bodies_refused_total",
      type: "counter",
      help: "Request bodies refused with 503 because their user's or the service's bytes in flight were at " +
        "bodyBytesInFlight.",
      samples: [{ value: body.refused }],
    },
    {
      name: "poa_agent_ids",
      type: "gauge",
      help: "Agent ids the users (and the ethstats shared secret) report under, each counted until " +
        "agentIds.forgetAfterMs after its last report; users holding some.",
      samples: samplesBy("stat", { ids: agentIds.ids, users: agentIds.users }),
    },
    {
      name: "poa_agent_ids_refused_total",
      type: "counter",
      help: "Reports and ethstats logins refused under a new agent id because their user already held " +
        "agentIds.maxPerUser ids.",
      samples: [{ value: agentIds.refused }],
    },
    {
      name: "poa_shared_blocks",
      type: "gauge",
      help: "Blocks kept so that equal block reports of many nodes share one copy.",
      samples: samplesBy("stat", { kept: blocks.kept }),
    },
    {
      name: "poa_shared_block_reports_total",
      type: "counter",
      help: "Block reports answered with the kept copy of an equal block.",
      samples: [{ value: blocks.shared }],
    },
  );
  if (f.ethstats) {
    // Its counters, and the sockets open now (a gauge).
    const { connections_open: open, ...counts } = f.ethstats.stats();
    families.push(
      {
        name: "poa_ethstats_total",
        type: "counter",
        help: "ethstats websocket handler counters (connections, logins, frames, limits, history requests).",
        samples: samplesBy("stat", counts),
      },
      {
        name: "poa_ethstats_connections_open",
        type: "gauge",
        help: "ethstats websockets open now.",
        samples: [{ value: open ?? 0 }],
      },
    );
  }
  return families;
}
