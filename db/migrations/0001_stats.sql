-- Statistics history, as the original POABackend tables (eth_stats, system_stats).
-- `date` is the time the service accepted the report, in UTC (timestamp without time zone).
-- `msg_id` is the Message id: `insert ... on conflict (msg_id) do nothing` makes a retried
-- batch write each row exactly once. It is nullable so rows from other writers still fit.
-- "if not exists" lets the migration adopt tables created by hand beforehand.

create table if not exists eth_stats (
  date timestamp not null,
  agent_id text not null,
  active bool,
  mining bool,
  hashrate bigint,
  peers int,
  gas_price bigint,
  current_block text,
  highest_block text,
  starting_block text
);
alter table eth_stats add column if not exists msg_id uuid;
create unique index if not exists eth_stats_msg_id_key on eth_stats (msg_id);
create index if not exists eth_stats_agent_id_date_idx on eth_stats (agent_id, date);

create table if not exists system_stats (
  date timestamp not null,
  agent_id text not null,
  cpu_load double precision,
  disk_usage bigint,
  memory_usage double precision
);
alter table system_stats add column if not exists msg_id uuid;
create unique index if not exists system_stats_msg_id_key on system_stats (msg_id);
create index if not exists system_stats_agent_id_date_idx on system_stats (agent_id, date);
