-- Every day's trial balance sums to zero, and so does each day's activity (beancount's rule).
select partition_date, sum(closing_balance) as closing_total, sum(period_debits) - sum(period_credits) as activity
from {{ ref('trial_balance') }}
where partition_date >= {{ partition_window_start() }}
group by partition_date
having sum(closing_balance) <> 0 or sum(period_debits) <> sum(period_credits)
