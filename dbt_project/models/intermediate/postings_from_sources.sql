{{ config(materialized='table', partition_by=none) }}
{#
  Every posting read from a source (chain, loan tapes, custodian) over the rebuild window, with the insurance claims
  the liquidations give rise to, before the ledger's closing entries (sUSDai's yield and credit losses). A table of the window: the day's sUSDai yield and the journal both read it, and the families
  are computed once.
#}
{% set families = [
  'postings_usdai_reserve', 'postings_susdai', 'postings_loan_timelock', 'postings_loans', 'postings_interest_accrual',
  'postings_credit_loss_allowance', 'postings_insurance_recovery', 'postings_tbills', 'postings_pool_positions'
] %}
{% for family in families %}
select
  partition_date, effective_time, source, source_key, rule_id, line_no, account_code, sub_account, signed_amount
from {{ ref(family) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
