{{ config(materialized='view') }}
{#
  The accounts USDai has blacklisted at each ledger day's close, one row per (day, account): those whose latest
  BlacklistUpdated log through the day (by block and log index, accounts compared in lower case) blacklists them.
  Their balances are frozen: no transfer to or from them goes through.
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
    on updates.partition_date <= days.partition_date and updates.contract_role = 'usdai'
)

select partition_date, account
from latest
where recency = 1 and is_blacklisted
