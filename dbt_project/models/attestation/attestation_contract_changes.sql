{{ config(materialized='view') }}
{#
  The changes to the protocol's contracts in each day, one row per change: what an auditor asks first ("what
  changed in the contracts this period?"). Each is also H8's open warning until reviewed.
#}
select
  partition_date,
  block_time,
  contract_role,
  contract_address,
  change_kind,
  event,
  change,
  tx_hash,
  log_index
from {{ ref('contract_changes') }}
