-- Every journal entry of the window sums to zero: its debits equal its credits.
select entry_id, sum(debit) as debits, sum(credit) as credits
from {{ ref('journal_lines') }}
where partition_date >= {{ partition_window_start() }}
group by entry_id
having sum(debit) <> sum(credit)
