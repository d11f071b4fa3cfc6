{{ config(materialized='view') }}
{#
  Each source's cut-off of a day, one row per (day, line): the chain (state block, block range), each custodian
  statement, each lender's loan tape, GPU telemetry, in the report's order (`line_no`). Each source is read at its
  own cut-off; columns a source does not have are null.
#}
with cutoffs as (
  select
    partition_date, 0 as source_order, 'chain' as source,
    chain_id, profile, from_block, to_block, to_block_hash, to_block_time, state_block, state_block_hash, log_count,
    null as custodian_id, null as account_id, cast(null as date) as statement_date,
    cast(null as timestamp) as cut_off_time,
    null as lender_id, cast(null as date) as as_of_date, cast(null as bigint) as loans,
    cast(null as timestamp) as last_sample, cast(null as bigint) as gpus,
    null as files
  from {{ ref('chain_cutoffs') }}
  union all by name
  select
    partition_date, 1 as source_order, 'custodian_statement' as source,
    custodian_id, account_id, statement_date, cut_off_time, files
  from {{ ref('custodian_statement_cutoffs') }}
  union all by name
  select partition_date, 2 as source_order, 'loan_tape' as source, lender_id, as_of_date, loans, files
  from {{ ref('loan_tape_cutoffs') }}
  union all by name
  select partition_date, 3 as source_order, 'gpu_telemetry' as source, last_sample, gpus
  from {{ ref('gpu_telemetry_cutoffs') }}
)

select
  partition_date,
  row_number() over (
    partition by partition_date
    order by source_order, custodian_id, account_id, statement_date, lender_id
  ) as line_no,
  source,
  chain_id,
  profile,
  from_block,
  to_block,
  to_block_hash,
  to_block_time,
  state_block,
  state_block_hash,
  log_count,
  custodian_id,
  account_id,
  statement_date,
  cut_off_time,
  lender_id,
  as_of_date,
  loans,
  last_sample,
  gpus,
  files
from cutoffs
