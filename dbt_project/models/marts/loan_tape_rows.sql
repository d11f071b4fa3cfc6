{{ config(materialized='view') }}
{#
  The lenders' loan tapes as delivered, one row per loan per tape day, with the file and row each came from.
#}
select
  partition_date,
  as_of_date,
  lender_id,
  loan_id,
  loan_terms_hash,
  status,
  principal_outstanding,
  source_file,
  source_row
from {{ ref('stg_loan_tapes') }}
