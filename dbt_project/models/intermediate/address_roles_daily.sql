{#
  What the ledger needs to know about an address on a day: is it one of the protocol's own contracts (whose USDai
  is eliminated), the custodian's deposit address, the credit insurance pool's wallet, and, for a token, the USD value of one raw unit. Addresses are
  matched case-insensitively on `address_key`.
#}
select
  partition_date,
  lower(address) as address_key,
  max(address) as address,
  {{ dbt.bool_or("coalesce(is_protocol, false)") }} as is_protocol,
  {{ dbt.bool_or("role = 'custodian'") }} as is_custodian,
  {{ dbt.bool_or("role = 'insurer'") }} as is_insurer,
  max(usd_per_raw_unit) as usd_per_raw_unit
from {{ ref('stg_chain_address_book') }}
group by partition_date, lower(address)
