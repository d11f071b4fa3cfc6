{#
  One row per day with the addresses of the roles that have exactly one address (tested on the address book):
  USDai, the sUSDai vault, the base reserve token and the custodian's deposit address (and the first base token
  USDai no longer, or not yet, holds its reserve in); and the value of one raw unit of USDai and of the base token
  (USD) and of sUSDai (shares).
#}
select
  partition_date,
  max(case when role = 'usdai' then address end) as usdai_address,
  max(case when role = 'usdai' then usd_per_raw_unit end) as usdai_usd_per_raw_unit,
  max(case when role = 'susdai' then address end) as susdai_address,
  max(case when role = 'susdai' then usd_per_raw_unit end) as susdai_units_per_raw_unit,
  max(case when role = 'base_token' then address end) as base_token_address,
  max(case when role = 'base_token' then usd_per_raw_unit end) as base_token_usd_per_raw_unit,
  min(case when role = 'inactive_base_token' then address end) as inactive_base_token_address,
  max(case when role = 'custodian' then address end) as custodian_address
from {{ ref('stg_chain_address_book') }}
group by partition_date
