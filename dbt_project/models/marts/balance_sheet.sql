{{ config(materialized='view') }}
{#
  The balance sheet at each ledger day's close, from trial_balance: assets at their debit balances (the
  allowance, a contra-asset, negative), liabilities and equity at their credit balances, and income less
  expenses to date as an equity line of its own (income and expense accounts are never closed into 3000).
  Each day's assets equal its liabilities plus equity (test balance_sheet_balances).
#}
with balances as (
  select * from {{ ref('trial_balance') }}
)

select
  partition_date,
  case account_type when 'asset' then 'assets' when 'liability' then 'liabilities' else 'equity' end as section,
  account_code,
  account_name as line_item,
  {{ usd("case when account_type = 'asset' then closing_balance else -closing_balance end") }} as amount
from balances
where account_type in ('asset', 'liability', 'equity')

union all

select
  partition_date,
  'equity' as section,
  cast(null as {{ dbt.type_string() }}) as account_code,
  'income less expenses to date' as line_item,
  {{ usd("-sum(closing_balance)") }} as amount
from balances
where account_type in ('income', 'expense')
group by partition_date
