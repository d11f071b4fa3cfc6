{{ config(materialized='view') }}
{#
  The closing cash each custodian statement states, one row per (day, custodian, account, statement date): the
  custodian's own figure, set beside the ledger's 1000.
#}
select
  partition_date,
  custodian_id,
  account_id,
  statement_date,
  amount,
  source_file,
  source_sha256,
  source_row
from {{ ref('stg_custodian_statements') }}
where record_type = 'closing_cash'
