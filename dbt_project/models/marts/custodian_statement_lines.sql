{{ config(materialized='view') }}
{#
  The custodian statements as delivered, one row per statement row: closing cash, T-bill holdings by CUSIP at
  market value, transactions; with the statement's cut-off and the file and row each came from.
#}
select
  partition_date,
  statement_date,
  cut_off_time,
  custodian_id,
  account_id,
  record_type,
  cusip,
  market_value,
  amount,
  source_file,
  source_sha256,
  source_row
from {{ ref('stg_custodian_statements') }}
