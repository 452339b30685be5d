-- Each node's latest Ethereum statistics beside its information (web_dashboard/stored_nodes.ts):
-- the POA agent sends them only when they change, so after a restart its peers, gas price and
-- uptime showed "–" until then. A row may hold either or both.
alter table web_nodes add column if not exists statistics jsonb;
alter table web_nodes alter column information drop not null;
