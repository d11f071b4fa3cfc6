{#
  For every ledger day of the rebuild window and every account of the chart (zero rows included): the day's
  debits and credits and the closing balance, debits minus credits of every line through the day (liabilities,
  equity and income close negative). Ledger days are the chain's ingested days and any day with journal lines.
  The closing balance carries forward from the mart's own last day before the window.
#}
with chart as (
  select account_code, account_name, account_type, normal_balance
  from {{ ref('chart_of_accounts') }}
),

ledger_days as (
  {{ ledger_days() }}
),

daily_activity as (
  select
    partition_date,
    account_code,
    sum(debit) as period_debits,
    sum(credit) as period_credits
  from {{ ref('journal_lines') }}
  where {{ in_rebuild_window("partition_date") }}
  group by partition_date, account_code
),

opening as (
  {{ carried_forward({"account_code": dbt.type_string(), "closing_balance": usd_type()}) }}
),

balances as (
  select
    ledger_days.partition_date,
    chart.account_code,
    chart.account_name,
    chart.account_type,
    chart.normal_balance,
    {{ usd("coalesce(daily_activity.period_debits, 0)") }} as period_debits,
    {{ usd("coalesce(daily_activity.period_credits, 0)") }} as period_credits,
    {{ usd(
      "coalesce(opening.closing_balance, 0)"
      ~ " + sum(coalesce(daily_activity.period_debits, 0) - coalesce(daily_activity.period_credits, 0)) over ("
      ~ " partition by chart.account_code order by ledger_days.partition_date"
      ~ " rows between unbounded preceding and current row)"
    ) }} as closing_balance
  from ledger_days
  cross join chart
  left join daily_activity
    on daily_activity.partition_date = ledger_days.partition_date
    and daily_activity.account_code = chart.account_code
  left join opening
    on opening.account_code = chart.account_code
)

select
  cast(partition_date as date) as partition_date,
  cast(account_code as {{ dbt.type_string() }}) as account_code,
  cast(account_name as {{ dbt.type_string() }}) as account_name,
  cast(account_type as {{ dbt.type_string() }}) as account_type,
  cast(normal_balance as {{ dbt.type_string() }}) as normal_balance,
  period_debits,
  period_credits,
  closing_balance
from balances
