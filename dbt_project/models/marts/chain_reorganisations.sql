{{ config(materialized='view') }}
{#
  Chain reorganisations that reached an ingested day, as recorded by the chain ingestion (lake chain_reorgs): one
  row per replaced block per affected day (a row without a block when none of the day's recorded blocks was
  replaced), with what was done to the day (`reingested` or `withdrawn`). Most homes have none.
#}
select
  partition_date,
  reorg_id,
  detected_at,
  fork_block,
  common_block,
  depth,
  affected_days,
  action,
  block_number,
  old_hash,
  new_hash
from {{ optional_lake_table('chain_reorgs', {
  'partition_date': 'date', 'reorg_id': 'string', 'detected_at': 'timestamp', 'fork_block': 'bigint',
  'common_block': 'bigint', 'depth': 'bigint', 'affected_days': 'string', 'action': 'string',
  'block_number': 'bigint', 'old_hash': 'string', 'new_hash': 'string'}) }}
