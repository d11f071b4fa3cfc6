-- The reserve sub-accounts add up to their accounts in the trial balance, movement and closing balance, every
-- ledger day: a sub-account carried forward wrongly (or a day missing from the mart) shows here.
with sub_accounts as (
  select partition_date, account_code, sum(movement) as movement, sum(closing_balance) as closing_balance
  from {{ ref('reserve_balances') }}
  where partition_date >= {{ partition_window_start() }}
  group by partition_date, account_code
),

accounts as (
  select partition_date, account_code, period_debits - period_credits as movement, closing_balance
  from {{ ref('trial_balance') }}
  where account_code in ('1000', '1010', '1020')
    and partition_date >= {{ partition_window_start() }}
)

select accounts.*, sub_accounts.movement as sub_account_movement,
       sub_accounts.closing_balance as sub_account_closing_balance
from accounts
left join sub_accounts
  on sub_accounts.partition_date = accounts.partition_date
  and sub_accounts.account_code = accounts.account_code
where coalesce(sub_accounts.movement, 0) <> accounts.movement
   or coalesce(sub_accounts.closing_balance, 0) <> accounts.closing_balance
