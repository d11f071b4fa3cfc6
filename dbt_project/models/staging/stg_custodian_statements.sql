{#
  Custodian statement rows, one per (source_sha256, source_row): a file ingested again counts once. A statement
  is filed under its statement date, so the same file is always on the same day: keyed by day too, a filter on the
  day reaches the Parquet scan instead of every day's file being read to deduplicate.
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(statement_date as date) as statement_date,
    cast(cut_off_time as timestamp) as cut_off_time,
    cast(custodian_id as string) as custodian_id,
    cast(account_id as string) as account_id,
    cast(record_type as string) as record_type,
    cast(cusip as string) as cusip,
    cast(security_description as string) as security_description,
    cast(maturity_date as date) as maturity_date,
    cast(par_value as decimal(38, 18)) as par_value,
    cast(price as decimal(38, 18)) as price,
    cast(market_value as decimal(38, 18)) as market_value,
    cast(amount as decimal(38, 18)) as amount,
    cast(currency as string) as currency,
    cast(transaction_type as string) as transaction_type,
    cast(reference as string) as reference,
    cast(source_file as string) as source_file,
    cast(source_sha256 as string) as source_sha256,
    cast(source_row as bigint) as source_row
  from {{ lake_table('custodian_statements') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'source_sha256', 'source_row'], 'source_file') }}
