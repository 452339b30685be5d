-- Each node's latest information report as the web dashboard keeps it (name, client, coinbase...:
-- web_dashboard/node_information.ts), read back at start: after a restart a node that reports
-- before it sends its information again (POA agents send it every 60 s) shows its name and client
-- at once. The newest rows are kept, as many as the dashboard's nodes.
create table if not exists web_nodes (
  agent_id text primary key,
  information jsonb not null,
  updated_at timestamptz not null
);
create index if not exists web_nodes_updated_at_idx on web_nodes (updated_at);
