{{ config(materialized='view') }}
{#
  Every input of each day, one row per (day, line): each inbox file by its sha256 with the rows read, accepted and
  quarantined (in order of source and file name), then the chain's block range with its last block's hash.
#}
with inputs as (
  select
    partition_date, 0 as source_order, source, file_name, sha256, rows_in, rows_accepted, rows_quarantined,
    cast(null as bigint) as from_block, cast(null as bigint) as to_block, cast(null as bigint) as log_count,
    cast(null as string) as to_block_hash
  from {{ ref('ingested_files') }}
  union all
  select
    partition_date, 1, 'chain', null, null, null, null, null, from_block, to_block, log_count, to_block_hash
  from {{ ref('chain_cutoffs') }}
)

select
  partition_date,
  row_number() over (partition by partition_date order by source_order, source, file_name) as line_no,
  source,
  file_name,
  sha256,
  rows_in,
  rows_accepted,
  rows_quarantined,
  from_block,
  to_block,
  log_count,
  to_block_hash
from inputs
