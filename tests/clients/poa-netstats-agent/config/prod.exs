use Mix.Config

# The agent's own config/prod.exs, with its settings taken from the environment when it starts
# (tests/poa_agent_test.ts sets them): the node's JSON-RPC, the backend, the agent's id, its user
# and which of its two transfers reports (POAAgent.Plugins.Transfers.HTTP.REST, the POA protocol,
# or POAAgent.Plugins.Transfers.WebSocket.Primus, the ethstats protocol at /api). Collectors,
# periods and mappings are the agent's shipped prod.exs; no config_overlay (a release feature).

rpc = System.get_env("POA_AGENT_RPC_URL", "http://127.0.0.1:8545")
backend = System.get_env("POA_AGENT_BACKEND", "http://127.0.0.1:4000")
id = System.get_env("POA_AGENT_ID", "poa-agent")
user = System.get_env("POA_AGENT_USER", "")
password = System.get_env("POA_AGENT_PASSWORD", "")

config :ethereumex,
    url: rpc

all_collectors =
       [
         {:eth_information, POAAgent.Plugins.Collectors.Eth.Information, 60_000, :eth_information, [url: rpc, name: id, contact: "agent@example.org"]},
         {:eth_latest_block, POAAgent.Plugins.Collectors.Eth.LatestBlock, 500, :latest_block, [url: rpc]},
         {:eth_stats, POAAgent.Plugins.Collectors.Eth.Stats, 5000, :eth_stats, [url: rpc]},
         {:eth_pending, POAAgent.Plugins.Collectors.Eth.Pending, 500, :eth_pending, [url: rpc]},
         {:system_collector, POAAgent.Plugins.Collectors.System.Stats, 5_000, :system_metrics, []}
       ]

# The Primus transfer has no frame for system statistics (it crashes on them): as in the agent's
# dev.exs, only the Ethereum collectors run with it (a collector without a mapping stops the agent).
{transfer, collectors} =
  case System.get_env("POA_AGENT_TRANSFER", "rest") do
    "primus" ->
      {{:rest_transfer, POAAgent.Plugins.Transfers.WebSocket.Primus, [
          address: String.replace_prefix(backend, "http", "ws") <> "/api",
          identifier: id,
          name: id,
          secret: user <> ":" <> password,
          contact: "agent@example.org"
        ]
      }, [:eth_latest_block, :eth_stats, :eth_pending, :eth_information]}
    _ ->
      {{:rest_transfer, POAAgent.Plugins.Transfers.HTTP.REST, [
          address: backend,
          identifier: id,
          user: user,
          password: password,
          token_url: backend <> "/session"
        ]
      }, [:eth_latest_block, :eth_stats, :eth_pending, :eth_information, :system_collector]}
  end

config :poa_agent, :transfers, [transfer]

config :poa_agent, :collectors, Enum.filter(all_collectors, fn c -> elem(c, 0) in collectors end)

config :poa_agent, :mappings, for(c <- collectors, do: {c, [:rest_transfer]})
