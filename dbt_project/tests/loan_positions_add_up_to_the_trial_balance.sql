-- The loan book by loan adds up to the ledger's accounts: principal to 1100, accrued interest to 1110, allowance to
-- 1190, every day.
with book as (
  select partition_date, sum(principal) as principal, sum(accrued_interest) as accrued_interest,
         sum(allowance) as allowance
  from {{ ref('loan_positions') }}
  where partition_date >= {{ partition_window_start() }}
  group by partition_date
),

ledger as (
  select
    partition_date,
    sum(case when account_code = '1100' then closing_balance else 0 end) as principal,
    sum(case when account_code = '1110' then closing_balance else 0 end) as accrued_interest,
    -sum(case when account_code = '1190' then closing_balance else 0 end) as allowance
  from {{ ref('trial_balance') }}
  where partition_date >= {{ partition_window_start() }}
  group by partition_date
)

select ledger.*, book.principal as book_principal, book.accrued_interest as book_accrued_interest,
       book.allowance as book_allowance
from ledger
left join book
  on book.partition_date = ledger.partition_date
where coalesce(book.principal, 0) <> ledger.principal
   or coalesce(book.accrued_interest, 0) <> ledger.accrued_interest
   or coalesce(book.allowance, 0) <> ledger.allowance
