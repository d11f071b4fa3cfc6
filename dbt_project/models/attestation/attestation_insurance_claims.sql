{{ config(materialized='view') }}
{#
  Each ledger day's claims on the credit insurance pool recognised by then (loan_liquidations): the sale, the
  principal it lost, the cover, the claim and its day, and what the pool still owed the protocol at the day's close
  (1150, the same on every row of the day).
#}
with ledger_days as (
  select partition_date, closing_balance as receivable_at_close
  from {{ ref('trial_balance') }}
  where account_code = '1150'
)

select
  ledger_days.partition_date,
  claims.loan_terms_hash,
  claims.partition_date as sale_date,
  claims.principal_lost_usd,
  claims.insurance_cover_ratio,
  claims.insurance_claim_usd,
  claims.insurance_claim_date,
  ledger_days.receivable_at_close
from ledger_days
inner join {{ ref('loan_liquidations') }} as claims
  on claims.insurance_claim_usd > 0
  and claims.insurance_claim_date <= ledger_days.partition_date
