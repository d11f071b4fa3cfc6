-- The allowance multiplies by a tape's insurance cover ratio as DECIMAL(9,6): a ratio outside 0..1 or with more
-- than 6 decimals cannot be applied as stated, and stops the build rather than being rounded.
select as_of_date, lender_id, loan_terms_hash, insurance_cover_ratio
from {{ ref('stg_loan_tapes') }}
where {{ in_partition_window("partition_date") }}
  and (insurance_cover_ratio < 0
   or insurance_cover_ratio > 1
   or insurance_cover_ratio <> cast(insurance_cover_ratio as decimal(9, 6)))
