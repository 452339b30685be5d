-- The most active nodes whose head each block was at once (BlockEntry.peak in
-- web_dashboard/block_ring.ts): the bar another hash at its number must pass half of, read back
-- after a restart. Null for rows saved before: their propagation count stands in.
alter table web_blocks add column if not exists peak int;
