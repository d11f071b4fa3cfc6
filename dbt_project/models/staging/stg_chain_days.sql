{#
  One row per ingested chain day.
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(chain_id as bigint) as chain_id,
    cast(profile as string) as profile,
    cast(from_block as bigint) as from_block,
    cast(to_block as bigint) as to_block,
    cast(to_block_hash as string) as to_block_hash,
    cast(to_block_time as timestamp) as to_block_time,
    cast(state_block as bigint) as state_block,
    cast(state_block_hash as string) as state_block_hash,
    cast(log_count as bigint) as log_count
  from {{ lake_table('chain_days') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date'], 'to_block desc nulls last, state_block desc nulls last') }}
