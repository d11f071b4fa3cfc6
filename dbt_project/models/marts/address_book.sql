{{ config(materialized='view') }}
{#
  The profile's address book per day, one row per (day, role, address): roles, protocol membership, token symbol,
  and each token's USD value of one raw unit (exact DECIMAL). `address_key` is the address in lower case, the form
  state reads and balances are joined on.
#}
select
  partition_date,
  role,
  address,
  lower(address) as address_key,
  is_protocol,
  token_symbol,
  token_decimals,
  usd_per_raw_unit
from {{ ref('stg_chain_address_book') }}
