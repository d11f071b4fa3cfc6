{{ config(materialized='view') }}
{#
  Each ledger day's income statement, from trial_balance: every income and expense account with the day's
  amount, income as credits less debits and expenses as debits less credits (a release of allowance is a
  negative credit loss expense). Any other period is the sum of its days: macro income_statement_for_period.
#}
select
  partition_date,
  account_code,
  account_name,
  account_type,
  {{ usd(
    "case when account_type = 'income' then period_credits - period_debits else period_debits - period_credits end"
  ) }} as amount
from {{ ref('trial_balance') }}
where account_type in ('income', 'expense')
