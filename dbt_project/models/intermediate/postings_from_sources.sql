{{ config(materialized='table') }}
{#
  Every posting read from a source (chain, loan tapes, custodian) over the rebuild window, before the ledger's
  computed entries. A table of the window: the day's sUSDai yield and the journal both read it, and the families
  are computed once.
#}
{% set families = [
  'postings_usdai_reserve', 'postings_susdai', 'postings_loans', 'postings_interest_accrual',
  'postings_credit_loss_allowance', 'postings_tbills'
] %}
{% for family in families %}
select
  partition_date, effective_time, source, source_key, rule_id, line_no, account_code, sub_account, signed_amount
from {{ ref(family) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
