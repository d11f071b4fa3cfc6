-- Every day's assets equal its liabilities plus equity (income less expenses to date included).
select
  partition_date,
  sum(case when section = 'assets' then amount else 0 end) as assets,
  sum(case when section <> 'assets' then amount else 0 end) as liabilities_and_equity
from {{ ref('balance_sheet') }}
where partition_date >= {{ partition_window_start() }}
group by partition_date
having sum(case when section = 'assets' then amount else 0 end)
    <> sum(case when section <> 'assets' then amount else 0 end)
