{{ config(materialized='view') }}
{#
  The chain's cut-off of each ingested day, one row per day: the block where state was read (and its hash), the
  range of blocks whose logs were ingested and the time of the last one. Sources are never assumed to share an
  instant: this is the chain's own.
#}
select
  partition_date,
  chain_id,
  profile,
  from_block,
  to_block,
  to_block_hash,
  to_block_time,
  state_block,
  state_block_hash,
  log_count
from {{ ref('stg_chain_days') }}
