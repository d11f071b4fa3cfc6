{{ config(materialized='view') }}
{#
  State read with eth_call at each day's last block, one row per (day, contract, method, key, field): supplies,
  balances, sUSDai's totalAssets(), each loan's loanState(). `value` is the raw integer the contract returned.
#}
select
  partition_date,
  block_number,
  block_hash,
  block_time,
  contract_role,
  contract_address,
  method,
  key,
  field,
  value
from {{ ref('stg_chain_state') }}
