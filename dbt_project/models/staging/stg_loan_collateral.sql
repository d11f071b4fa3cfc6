{#
  Collateral schedules, one row per (day, lender, loan, NFT, GPU).
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(lender_id as string) as lender_id,
    cast(loan_terms_hash as string) as loan_terms_hash,
    cast(nft_token_id as string) as nft_token_id,
    cast(gpu_serial as string) as gpu_serial,
    cast(source_file as string) as source_file,
    cast(source_sha256 as string) as source_sha256,
    cast(source_row as bigint) as source_row
  from {{ lake_table('loan_collateral') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'lender_id', 'loan_terms_hash', 'nft_token_id', 'gpu_serial'], 'source_file desc, source_sha256 desc, source_row') }}
