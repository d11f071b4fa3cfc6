{{ config(materialized='view') }}
{#
  The sUSDai shares frozen by sUSDai's own blacklist (StakedUSDai v1.0–v1.6) at each ledger day's close, one row per
  (day, account): the accounts whose latest sUSDai `Blacklisted` log through the day blacklists them, their shares
  at the day's state block (sUSDai.balanceOf) and what those shares are worth at the day's share price on chain.
  No transfer, redemption or withdrawal of theirs goes through while the account stays blacklisted: the attestation
  shows them as not redeemable.
#}
with shares as (
  select
    state.partition_date,
    lower(state.key) as account_key,
    {{ raw_to_usd("state.value", "protocol.susdai_units_per_raw_unit") }} as shares
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = state.partition_date
  where state.contract_role = 'susdai' and state.method = 'balanceOf'
)

select
  blacklisted.partition_date,
  blacklisted.account,
  shares.shares,
  {{ usd_times_ratio("shares.shares", "nav.onchain_share_price") }} as value_usd
from {{ ref('blacklisted_accounts') }} as blacklisted
left join shares
  on shares.partition_date = blacklisted.partition_date and shares.account_key = lower(blacklisted.account)
left join {{ ref('susdai_yield') }} as nav
  on nav.partition_date = blacklisted.partition_date
where blacklisted.contract_role = 'susdai'
