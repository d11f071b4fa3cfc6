{#
  Inbox files ingested per day, one row per (day, source, file name).
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(source as string) as source,
    cast(file_name as string) as file_name,
    cast(sha256 as string) as sha256,
    cast(size_bytes as bigint) as size_bytes,
    cast(rows_in as bigint) as rows_in,
    cast(rows_accepted as bigint) as rows_accepted,
    cast(rows_quarantined as bigint) as rows_quarantined,
    cast(format as string) as format,
    coalesce(cast(quarantine_reasons as string), '') as quarantine_reasons,
    coalesce(cast(unexpected_columns as string), '') as unexpected_columns
  from {{ lake_table('input_files') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'source', 'file_name'], 'sha256') }}
