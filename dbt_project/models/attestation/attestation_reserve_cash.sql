{{ config(materialized='view') }}
{#
  The closing cash each custodian statement of the day states, one row per (day, custodian, account, statement
  date): set beside the ledger's custodian cash (1000), which holds every custodian account together.
#}
select partition_date, custodian_id, account_id, statement_date, amount
from {{ ref('custodian_closing_cash') }}
