-- A line is a debit or a credit: both are non-negative, exactly one is non-zero.
select *
from {{ ref('journal_lines') }}
where partition_date >= {{ partition_window_start() }}
  and (debit < 0
   or credit < 0
   or (debit = 0 and credit = 0)
   or (debit <> 0 and credit <> 0))
