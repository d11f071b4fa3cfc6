{#
  The profile's address book per day, one row per (day, role, address), with each token's USD value of one raw
  unit: 10^-decimals, exact as DECIMAL(38,18) (parsed from text, never computed in floating point). Decimals
  beyond 18 have no such value and fail the test token_decimals_are_supported.
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(role as string) as role,
    cast(address as string) as address,
    cast(is_protocol as boolean) as is_protocol,
    cast(token_symbol as string) as token_symbol,
    cast(token_decimals as integer) as token_decimals,
    cast(interface as string) as interface
  from ({{ with_optional_columns(lake_table('chain_address_book'), {'interface': 'string'}) }})
  where {{ in_cumulative_window("partition_date") }}
),

deduplicated as (
  {{ deduplicate('lake', ['partition_date', 'role', 'address'], 'token_decimals, token_symbol') }}
)

select
  *,
  case
    when token_decimals between 0 and 18
      then cast('1e-' || cast(token_decimals as string) as {{ usd_type() }})
  end as usd_per_raw_unit
from deduplicated
