{{ config(materialized='view') }}
{#
  The tapes' collateral schedules, one row per loan per NFT per GPU per day, with the file and row each came from.
#}
select
  partition_date,
  lender_id,
  loan_terms_hash,
  nft_token_id,
  gpu_serial,
  source_file,
  source_row
from {{ ref('stg_loan_collateral') }}
