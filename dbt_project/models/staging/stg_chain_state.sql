{#
  State reads at each day's last block, one row per (day, contract, method, key, field).
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(block_number as bigint) as block_number,
    cast(block_hash as string) as block_hash,
    cast(block_time as timestamp) as block_time,
    cast(contract_role as string) as contract_role,
    cast(contract_address as string) as contract_address,
    cast(method as string) as method,
    cast(key as string) as key,
    cast(field as string) as field,
    cast(value as decimal(38, 0)) as value
  from {{ lake_table('chain_state') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'contract_address', 'method', 'key', 'field'], 'block_number desc, block_hash') }}
