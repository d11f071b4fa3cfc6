-- Every journal entry sums to zero: its debits equal its credits.
select entry_id, sum(debit) as debits, sum(credit) as credits
from {{ ref('journal_lines') }}
group by entry_id
having sum(debit) <> sum(credit)
