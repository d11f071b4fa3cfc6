{#
  Rule insurance_recovery: a sold loan's claim on its credit insurance (loan_liquidations) becomes a receivable
  from the pool (1150) against credit loss expense (5000) on its claim day, once that day is on the ledger (a
  claim whose waiting period runs past the last chain day waits for that day's build). The pool's payment is rule
  insurance_recovery_received (postings_usdai_reserve).
#}
with claims as (
  select loan_terms_hash, insurance_claim_date, insurance_claim_usd
  from {{ ref('loan_liquidations') }}
  where insurance_claim_usd > 0
    and {{ in_rebuild_window("insurance_claim_date") }}
    and insurance_claim_date <= (select max(partition_date) from {{ ref('stg_chain_days') }})
),

entries as (
  select
    insurance_claim_date as partition_date,
    {{ end_of_day("insurance_claim_date") }} as effective_time,
    'ledger' as source,
    {{ dbt.concat(["'insurance_recovery:'", "loan_terms_hash"]) }} as source_key,
    'insurance_recovery' as rule_id,
    '1150' as debit_account,
    '' as debit_sub_account,
    '5000' as credit_account,
    '' as credit_sub_account,
    insurance_claim_usd as amount
  from claims
)

{{ two_line_postings("entries") }}
