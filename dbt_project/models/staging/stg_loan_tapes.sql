{#
  Loan tape rows, one per (as_of_date, lender_id, loan_terms_hash); of a tape delivered twice, the last file
  by name wins. A tape's as-of date is its partition's day (ingestion rejects any other), so the key holds the
  day too and a filter on the day reaches the Parquet scan. The insurance columns (cover ratio 0..1 and waiting period) are null on tapes that predate them.
#}
with lake_rows as (
  {{ with_optional_columns(lake_table('loan_tapes'), {
    'insurance_cover_ratio': 'decimal(38, 18)', 'insurance_waiting_period_days': 'integer'
  }) }}
),

lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(as_of_date as date) as as_of_date,
    cast(lender_id as string) as lender_id,
    cast(loan_id as string) as loan_id,
    cast(loan_terms_hash as string) as loan_terms_hash,
    cast(borrower_id as string) as borrower_id,
    cast(borrower_name as string) as borrower_name,
    cast(currency as string) as currency,
    cast(original_principal as decimal(38, 18)) as original_principal,
    cast(principal_outstanding as decimal(38, 18)) as principal_outstanding,
    cast(accrued_interest as decimal(38, 18)) as accrued_interest,
    cast(daily_interest as decimal(38, 18)) as daily_interest,
    cast(interest_rate_bps as integer) as interest_rate_bps,
    cast(status as string) as status,
    cast(days_past_due as integer) as days_past_due,
    cast(origination_date as date) as origination_date,
    cast(maturity_date as date) as maturity_date,
    cast(insurance_cover_ratio as decimal(38, 18)) as insurance_cover_ratio,
    cast(insurance_waiting_period_days as integer) as insurance_waiting_period_days,
    cast(source_file as string) as source_file,
    cast(source_sha256 as string) as source_sha256,
    cast(source_row as bigint) as source_row
  from lake_rows
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'as_of_date', 'lender_id', 'loan_terms_hash'], 'source_file desc, source_sha256 desc, source_row desc') }}
