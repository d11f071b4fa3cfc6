{#
  Every sub-account of the reserve asset accounts on every ledger day from its first line: custodian cash (1000,
  by custodian account), T-bills (1010, by CUSIP) and stablecoins on chain (1020, by token@holder), with the day's
  movement and the closing balance (debits minus credits of every line through the day). A sub-account stays on
  every later day, at zero too, so each ledger day holds the whole set. The reconciliations against statements
  and the chain (R2, R3) and the attestation's reserve tables read a day's balances here instead of summing the
  journal from its first day. Balances carry forward from the mart's own last day before the rebuild window; its
  first build reads the journal from its first day.
#}
with ledger_days as (
  {{ ledger_days(cumulative=true) }}
),

movements as (
  select partition_date, account_code, sub_account, sum(debit) - sum(credit) as movement
  from {{ ref('journal_lines') }}
  where account_code in ('1000', '1010', '1020')
    and {{ in_cumulative_window("partition_date") }}
  group by partition_date, account_code, sub_account
),

opening as (
  {{ carried_forward({
    "account_code": dbt.type_string(), "sub_account": dbt.type_string(), "closing_balance": usd_type()
  }) }}
),

first_days as (
  select account_code, sub_account, min(partition_date) as first_day
  from (
    select account_code, sub_account, {{ cumulative_window_start() }} as partition_date from opening
    union all
    select account_code, sub_account, partition_date from movements
  ) as appearances
  group by account_code, sub_account
),

grid as (
  select ledger_days.partition_date, first_days.account_code, first_days.sub_account
  from first_days
  inner join ledger_days
    on ledger_days.partition_date >= first_days.first_day
)

select
  cast(grid.partition_date as date) as partition_date,
  cast(grid.account_code as {{ dbt.type_string() }}) as account_code,
  cast(grid.sub_account as {{ dbt.type_string() }}) as sub_account,
  {{ usd("coalesce(movements.movement, 0)") }} as movement,
  {{ usd(
    "coalesce(opening.closing_balance, 0) + sum(coalesce(movements.movement, 0)) over ("
    ~ " partition by grid.account_code, grid.sub_account order by grid.partition_date"
    ~ " rows between unbounded preceding and current row)"
  ) }} as closing_balance
from grid
left join movements
  on movements.partition_date = grid.partition_date
  and movements.account_code = grid.account_code
  and movements.sub_account = grid.sub_account
left join opening
  on opening.account_code = grid.account_code
  and opening.sub_account = grid.sub_account
