{{ config(materialized='view') }}
{#
  The accounts blacklisted at each ledger day's close, one row per (day, list, account): those whose latest update
  through the day (by block and log index, accounts compared in lower case) on that list blacklists them. USDai's
  list (`contract_role` usdai, BlacklistUpdated) freezes their USDai; sUSDai's own (susdai, Blacklisted, StakedUSDai
  v1.0-v1.6) their shares: no transfer to or from them goes through.
#}
with days as (
  select partition_date from {{ ref('reserve_coverage') }}
),

latest as (
  select
    days.partition_date,
    updates.contract_role,
    updates.account,
    updates.is_blacklisted,
    row_number() over (
      partition by days.partition_date, updates.contract_role, lower(updates.account)
      order by updates.block_number desc, updates.log_index desc
    ) as recency
  from days
  inner join {{ ref('blacklist_updates') }} as updates
    on updates.partition_date <= days.partition_date
)

select partition_date, contract_role, account
from latest
where recency = 1 and is_blacklisted
