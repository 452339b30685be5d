/**
 * The ethstats websocket handler: nodes that report straight to the backend in the ethstats
 * protocol as go-ethereum speaks it (`geth --ethstats node:user:password@host:port`), without
 * a separate agent. Every report becomes an `ethereum_metrics` Message shaped like the
 * original agent's, so the receivers and the dashboard need no change. This module admits the
 * sockets (cooldown, login gate, per-address limit); sessions.ts handles them once upgraded.
 */
import { Hono } from "hono";
import { addressKey, type AppEnv, clientAddress } from "../../http/app_env.ts";
import { errorResponse } from "../../http/errors.ts";
import { createAddressLimit, upgradeSocket } from "../../http/websocket.ts";
import type { SharedBlocks } from "../../core/shared_blocks.ts";
import { createLoginGate, createPenaltyBox } from "./connection.ts";
import { createEthstatsSessions, type EthstatsHandlerDeps } from "./sessions.ts";

export { ETHSTATS_DATA_TYPE } from "./sessions.ts";

export interface EthstatsRoutesDeps extends EthstatsHandlerDeps {
  /** When given, equal block reports of many nodes share one object (core/shared_blocks.ts). */
  blocks?: SharedBlocks;
}

/** The handler, its counters and its shutdown. */
export interface EthstatsRoutes {
  /** Serves the websocket at `options.path` (no routes when `options.enabled` is false). */
  app: Hono<AppEnv>;
  /** Counters for /metrics; `connections_open` is a gauge. */
  stats(): Record<string, number>;
  /** Closes every socket (close code 1001, nodes reported inactive) and the sweep timer. */
  close(): void;
}

/** Builds the ethstats websocket handler. */
export function createEthstatsRoutes(deps: EthstatsRoutesDeps): EthstatsRoutes {
  const { options } = deps;
  /** Open sockets per address (maxConnectionsPerAddress), counted until each has closed. */
  const perAddress = createAddressLimit(options.maxConnectionsPerAddress);
  /** Sockets not logged in yet (state new or authenticating), in all and per address. */
  const gate = createLoginGate(options.maxUnauthenticated, options.maxUnauthenticatedPerAddress);
  /** Addresses that just had a socket dropped for flooding or an oversized frame. */
  const penalties = createPenaltyBox(options.violationCooldownSeconds * 1000);
  const sessions = createEthstatsSessions({
    ...deps,
    share: (block) => deps.blocks?.share(block) ?? block,
    gate,
    penalties,
  });
  const counters = sessions.counters;
  let shutDown = false;

  const app = new Hono<AppEnv>();
  if (options.enabled) {
    // Primus clients (eth-net-intelligence-api) dial `/api/?_primuscb=…`; Nethermind, given an
    // http(s) URL, dials `ws://host:port/`, then appends "/api" to it (EthStatsClient.InitAsync).
    const paths = options.path.endsWith("/") ? [options.path] : [options.path, options.path + "/"];
    paths.push("/" + options.path);
    app.on("GET", paths, (c) => {
      const address = clientAddress(c);
      const key = addressKey(address); // what the limits count (an IPv6 /64)
      // Read before the upgrade (the request is closed after it).
      const primus = c.req.url.includes("_primuscb=");
      const waitMs = penalties.waitMs(key, Date.now());
      if (waitMs > 0) {
        counters.limited++;
        counters.limited_cooldown++;
        const seconds = Math.ceil(waitMs / 1000);
        return errorResponse(
          429,
          "rate_limited",
          `a socket from this address was dropped for flooding or an oversized frame; reconnect in ${seconds} s`,
          { "retry-after": String(seconds) },
        );
      }
      let refused = gate.admit(key);
      // Room is made only for what can become a websocket (a request the handshake refuses evicted one).
      const upgrading = c.req.header("upgrade")?.toLowerCase() === "websocket" &&
        c.req.header("sec-websocket-key") !== undefined;
      if (refused === "busy" && upgrading && sessions.evictIdle()) refused = gate.admit(key);
      if (refused !== null) {
        counters.limited++;
        counters.limited_unauthenticated++;
        return refused === "busy"
          ? errorResponse(503, "busy", "too many nodes logging in at once; retry shortly", {
            "retry-after": "1",
          })
          : errorResponse(429, "too_many_connections", "too many sockets logging in from this address", {
            "retry-after": "1",
          });
      }
      const upgraded = upgradeSocket(c, {
        endpoint: "connect with a websocket (ethstats protocol)",
        unavailable: () => shutDown ? "the service is stopping" : undefined,
        limit: {
          sockets: perAddress,
          message: `at most ${options.maxConnectionsPerAddress} connections per address`,
          onRefused: () => {
            counters.limited++;
            counters.limited_connections++;
          },
        },
        // No idle ping: it re-arms a timer per frame received (see silentTimeoutMs).
        upgrade: { idleTimeout: 0 },
      });
      if (!upgraded.ok) {
        gate.leave(key);
        return upgraded.response;
      }
      const { socket, response } = upgraded;
      socket.binaryType = "arraybuffer";
      counters.connections_total++;
      sessions.open(socket, address, primus);
      return response;
    });
  }

  return {
    app,
    stats() {
      return { ...counters, ...sessions.historyStats(), connections_open: sessions.size() };
    },
    close() {
      shutDown = true;
      sessions.close();
    },
  };
}
