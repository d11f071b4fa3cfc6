{{ config(materialized='view') }}
{#
  The T-bills each custodian statement holds, one row per (day, custodian, account, statement date, CUSIP): par,
  price and fair value as the custodian states them.
#}
select
  partition_date,
  custodian_id,
  account_id,
  statement_date,
  cusip,
  security_description,
  maturity_date,
  par_value,
  price,
  market_value,
  source_file,
  source_sha256,
  source_row
from {{ ref('stg_custodian_statements') }}
where record_type = 'holding'
