{{ config(materialized='view') }}
{#
  The sUSDai shares frozen by sUSDai's own blacklist (StakedUSDai v1.0–v1.6) at each ledger day's close, one row per
  (day, account): the accounts whose latest sUSDai `Blacklisted` log through the day blacklists them, their shares
  at the day's state block (sUSDai.balanceOf) and what those shares are worth at the day's share price on chain.
  No transfer, redemption or withdrawal of theirs goes through while the account stays blacklisted: the attestation
  shows them as not redeemable.
#}
with days as (
  select partition_date from {{ ref('reserve_coverage') }}
),

latest as (
  select
    days.partition_date,
    updates.account,
    updates.is_blacklisted,
    row_number() over (
      partition by days.partition_date, lower(updates.account)
      order by updates.block_number desc, updates.log_index desc
    ) as recency
  from days
  inner join {{ ref('blacklist_updates') }} as updates
    on updates.partition_date <= days.partition_date and updates.contract_role = 'susdai'
),

shares as (
  select
    state.partition_date,
    lower(state.key) as account_key,
    {{ raw_to_usd("state.value", "susdai.usd_per_raw_unit") }} as shares
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('stg_chain_address_book') }} as susdai
    on susdai.partition_date = state.partition_date and susdai.role = 'susdai'
  where state.contract_role = 'susdai' and state.method = 'balanceOf'
)

select
  latest.partition_date,
  latest.account,
  shares.shares,
  {{ usd_times_ratio("shares.shares", "nav.onchain_share_price") }} as value_usd
from latest
left join shares
  on shares.partition_date = latest.partition_date and shares.account_key = lower(latest.account)
left join {{ ref('susdai_yield') }} as nav
  on nav.partition_date = latest.partition_date
where latest.recency = 1 and latest.is_blacklisted
