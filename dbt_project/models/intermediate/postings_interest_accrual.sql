{#
  Rule interest_accrual, over the rebuild window: each assessed tape row's interest accrued during its as-of date
  (loan_credit_risk_daily: loans funded on chain), receivable against income, effective at the end of that day.

  Rule interest_catch_up: when a performing loan comes back on a tape after missing from one or more (a lender
  left it out), the interest of the missed days is posted with the returning row, so that the receivable again
  equals the tape's accrued balance:
    accrued(d) - daily(d) - (accrued(previous row) - interest repaid on chain after the previous row, through d)
  Both rows must be accruing (current or delinquent); a gap over a default, repayment or liquidation is left to
  the rules of those events. The previous row is looked for within `interest_catch_up_lookback_days`, so the
  rule reads a bounded slice of history, not all of it.
#}
with assessed as (
  select * from {{ ref('loan_credit_risk_daily') }}
  where partition_date >= {{ partition_window_start() }} - interval {{ var("interest_catch_up_lookback_days") }} day
),

with_previous as (
  select
    assessed.*,
    lag(as_of_date) over loan_history as previous_as_of_date,
    lag(accrued_interest) over loan_history as previous_accrued_interest,
    lag(status) over loan_history as previous_status
  from assessed
  window loan_history as (partition by lower(loan_terms_hash) order by as_of_date)
),

returning_rows as (
  select * from with_previous
  where {{ in_rebuild_window("partition_date") }}
    and previous_as_of_date < as_of_date - interval 1 day
    and status in ('current', 'delinquent')
    and previous_status in ('current', 'delinquent')
),

catch_up as (
  select
    returning_rows.*,
    accrued_interest - daily_interest - previous_accrued_interest + coalesce((
      select sum(repaid.interest_usd)
      from {{ ref('loan_router_events_usd') }} as repaid
      where repaid.event = 'LoanRepaid'
        and lower(repaid.loan_terms_hash) = lower(returning_rows.loan_terms_hash)
        and repaid.partition_date > returning_rows.previous_as_of_date
        and repaid.partition_date <= returning_rows.as_of_date
    ), 0) as amount
  from returning_rows
),

entries as (
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
  from assessed
  where daily_interest > 0
    and {{ in_rebuild_window("partition_date") }}

  union all

  select
    partition_date,
    {{ end_of_day("as_of_date") }},
    'loan_tape',
    {{ file_source_key("source_sha256", "source_row") }},
    'interest_catch_up',
    '1110',
    loan_terms_hash,
    '4000',
    '',
    amount
  from catch_up
  where amount <> 0
)

{{ two_line_postings("entries") }}
