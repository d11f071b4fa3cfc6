{{ config(materialized='view') }}
{#
  Each source's cut-off of a day, one row per (day, line): the chain (state block, block range), each custodian
  statement, each lender's loan tape, GPU telemetry, in the report's order (`line_no`). Each source is read at its
  own cut-off; columns a source does not have are null.
#}
{%- set columns = {
  "chain_id": "bigint", "profile": "string", "from_block": "bigint", "to_block": "bigint",
  "to_block_hash": "string", "to_block_time": "timestamp", "state_block": "bigint", "state_block_hash": "string",
  "log_count": "bigint", "custodian_id": "string", "account_id": "string", "statement_date": "date",
  "cut_off_time": "timestamp", "lender_id": "string", "as_of_date": "date", "loans": "bigint",
  "last_sample": "timestamp", "gpus": "bigint", "files": "string"} -%}
{#- each source's cut-offs: (relation, source_order, source, the columns it has) -#}
{%- set sources = [
  ("chain_cutoffs", 0, "chain", ["chain_id", "profile", "from_block", "to_block", "to_block_hash", "to_block_time",
                                 "state_block", "state_block_hash", "log_count"]),
  ("custodian_statement_cutoffs", 1, "custodian_statement",
   ["custodian_id", "account_id", "statement_date", "cut_off_time", "files"]),
  ("loan_tape_cutoffs", 2, "loan_tape", ["lender_id", "as_of_date", "loans", "files"]),
  ("gpu_telemetry_cutoffs", 3, "gpu_telemetry", ["last_sample", "gpus"])] %}
with cutoffs as (
  {%- for relation, source_order, source, present in sources %}
  select
    partition_date, {{ source_order }} as source_order, '{{ source }}' as source
    {%- for name, type in columns.items() %},
    {{ name if name in present else "cast(null as " ~ type ~ ")" }} as {{ name }}
    {%- endfor %}
  from {{ ref(relation) }}
  {{- "\n  union all" if not loop.last }}
  {%- endfor %}
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
