{{ config(materialized='view') }}
{#
  The stablecoins the protocol's contracts hold at each ledger day's close, one row per (day, token@holder
  sub-account of 1020 with a balance): the ledger's balance (the latest ledger day through the day) with the token
  and the holder named from the day's address book.
#}
with balance_days as (
  select days.partition_date, max(balances.partition_date) as balance_date
  from {{ ref('reserve_coverage') }} as days
  inner join (select distinct partition_date from {{ ref('reserve_balances') }}) as balances
    on balances.partition_date <= days.partition_date
  group by days.partition_date
),

balances as (
  select balance_days.partition_date, ledger.sub_account, ledger.closing_balance as balance
  from balance_days
  inner join {{ ref('reserve_balances') }} as ledger
    on ledger.partition_date = balance_days.balance_date
  where ledger.account_code = '1020' and ledger.closing_balance != 0
)

select
  balances.partition_date,
  balances.sub_account,
  token.token_symbol,
  token.address as token_address,
  holder.role as holder_role,
  holder.address as holder_address,
  balances.balance
from balances
left join {{ ref('address_book') }} as token
  on token.partition_date = balances.partition_date
  and lower(token.address) = lower(split_part(balances.sub_account, '@', 1))
left join {{ ref('address_book') }} as holder
  on holder.partition_date = balances.partition_date
  and lower(holder.address) = lower(split_part(balances.sub_account, '@', 2))
