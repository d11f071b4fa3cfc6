-- A token's raw amounts convert to DECIMAL(38,18) USD exactly only with 0 to 18 decimals.
select *
from {{ ref('stg_chain_address_book') }}
where {{ in_partition_window("partition_date") }}
  and token_decimals is not null
  and (token_decimals < 0 or token_decimals > 18 or usd_per_raw_unit is null)
