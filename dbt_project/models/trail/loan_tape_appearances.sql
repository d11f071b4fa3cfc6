{{ config(materialized='view') }}
{#
  Every loan a lender's tape has listed, one row per loanTermsHash (lower case): its loan id and lender as a tape
  states them and how many tape rows name it.
#}
select
  lower(loan_terms_hash) as loan_terms_hash,
  any_value(loan_id) as loan_id,
  any_value(lender_id) as lender_id,
  count(*) as tape_rows
from {{ ref('stg_loan_tapes') }}
where loan_terms_hash is not null
group by lower(loan_terms_hash)
