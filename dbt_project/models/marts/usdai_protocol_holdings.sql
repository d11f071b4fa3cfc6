{{ config(materialized='view') }}
{#
  USDai held by the protocol's own contracts at each day's state block, one row per (day, holder): balanceOf() of
  each address-book entry marked as the protocol's, in USD (1 USDai = 1 USD). Tokens the protocol holds itself
  are not outstanding to anyone.
#}
select
  state.partition_date,
  book.role as holder_role,
  state.key as holder,
  {{ raw_to_usd("state.value", "usdai.usd_per_raw_unit") }} as amount
from {{ ref('stg_chain_state') }} as state
inner join {{ ref('stg_chain_address_book') }} as usdai
  on usdai.partition_date = state.partition_date and usdai.role = 'usdai'
inner join {{ ref('stg_chain_address_book') }} as book
  on book.partition_date = state.partition_date and lower(book.address) = lower(state.key) and book.is_protocol
where state.contract_role = 'usdai' and state.method = 'balanceOf'
