{{ config(materialized='view') }}
{#
  Each source's own cut-off for a day as the reconciliation checks print it beside their comparisons, one row per
  (day, source) the source delivered: the chain's state block (chain_cutoffs), the custodian statements' latest
  cut-off (custodian_statement_cutoffs, by statement date), the last telemetry sample (gpu_telemetry_cutoffs).
#}
select
  partition_date,
  'chain' as source,
  to_block_time as cutoff_time,
  'chain block ' || cast(state_block as string) || ' ' || state_block_hash
    || ' at ' || cast(to_block_time as string) as cutoff,
  state_block as chain_state_block
from {{ ref('chain_cutoffs') }}

union all

select
  statement_date,
  'custodian_statement',
  max(cut_off_time),
  'statement ' || {{ distinct_listagg('custodian_id', "','") }} || ' cut-off ' || cast(max(cut_off_time) as string),
  null
from {{ ref('custodian_statement_cutoffs') }}
group by statement_date

union all

select
  partition_date,
  'telemetry',
  last_sample,
  'telemetry last sample ' || cast(last_sample as string),
  null
from {{ ref('gpu_telemetry_cutoffs') }}
