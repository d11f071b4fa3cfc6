{#
  Logs whose topic0 is not in the registry, one row per (partition_date, tx_hash, log_index) like stg_chain_events:
  after a reorg moves a transaction across midnight both days are re-ingested, so a log is on one day. Keyed by
  day, a filter on the day reaches the Parquet scan.
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(block_number as bigint) as block_number,
    cast(block_hash as string) as block_hash,
    cast(block_time as timestamp) as block_time,
    cast(tx_hash as string) as tx_hash,
    cast(log_index as integer) as log_index,
    cast(contract_address as string) as contract_address,
    cast(contract_role as string) as contract_role,
    cast(topic0 as string) as topic0,
    cast(topics as string) as topics,
    cast(data as string) as data
  from {{ lake_table('chain_logs_unknown') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'tx_hash', 'log_index'], 'block_number desc, block_hash') }}
