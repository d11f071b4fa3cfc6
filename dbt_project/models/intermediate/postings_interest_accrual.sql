{#
  Rule interest_accrual, over the rebuild window: each loan tape row's interest accrued during its as-of date, receivable against income,
  effective at the end of that day.
#}
with entries as (
  select
    partition_date,
    {{ end_of_day("as_of_date") }} as effective_time,
    'loan_tape' as source,
    {{ file_source_key("source_sha256", "source_row") }} as source_key,
    'interest_accrual' as rule_id,
    '1110' as debit_account,
    loan_terms_hash as debit_sub_account,
    '4000' as credit_account,
    '' as credit_sub_account,
    daily_interest as amount
  from {{ ref('stg_loan_tapes') }}
  where daily_interest > 0
    and {{ in_rebuild_window("partition_date") }}
)

{{ two_line_postings("entries") }}
