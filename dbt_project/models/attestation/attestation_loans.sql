{{ config(materialized='view') }}
{#
  The loan book of each ledger day, one row per (day, loan with a balance): at amortised cost (principal + accrued
  interest) less the allowance for credit losses, its status and days past due as the tape states them, and its
  collateral's GPUs (reporting, dark, erroring) and health; its credit insurance as the tape states it (the share of
  principal covered, the waiting period, whether it has passed) and the principal covered. `line_no` is the report's order (lender, loan).
#}
select
  partition_date,
  row_number() over (partition by partition_date order by lender_id, loan_id, loan_terms_hash) as line_no,
  loan_id,
  lender_id,
  borrower_id,
  loan_terms_hash,
  coalesce(status, 'not on tape') as status,
  days_past_due,
  principal,
  accrued_interest,
  allowance,
  carrying_amount,
  collateral_gpus,
  dark_gpus,
  erroring_gpus,
  collateral_health,
  insurance_cover_ratio,
  insurance_waiting_period_days,
  insurance_claimable,
  {{ usd("principal * coalesce(cast(insurance_cover_ratio as decimal(9, 6)), 0)") }} as insured_principal
from {{ ref('loan_positions') }}
where principal != 0 or accrued_interest != 0 or allowance != 0
