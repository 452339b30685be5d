-- The web dashboard's recent blocks and their propagation, so the page shows them again after a
-- restart (web_dashboard/block_store.ts). One row per block number: the first hash the service saw
-- at that height, when and from which node, how many node reports of it arrived, and the histogram
-- of those nodes' delays after the first (bins of PROPAGATION_BINS_MS in web_dashboard/state.ts).
create table if not exists web_blocks (
  number bigint primary key,
  hash text,
  parent_hash text,
  "timestamp" bigint,
  miner text,
  gas_used bigint,
  gas_limit bigint,
  difficulty double precision,
  transaction_count int,
  uncle_count int,
  first_seen timestamptz not null,
  first_seen_by text not null,
  reports int not null,
  propagation int[] not null
);
