{#
  Every USDai BlacklistUpdated log, kept in the warehouse: the attestation lists the accounts blacklisted at a day
  from the latest update of each through the day. Read from the lake's events, that meant opening every day's
  file of chain_events at every attestation; these rows are few, whatever the history. The first build reads all
  history: a blacklist that started on the day the table was added would leave earlier updates out.
#}
select
  partition_date,
  tx_hash,
  log_index,
  block_number,
  cast(account as {{ dbt.type_string() }}) as account,
  is_blacklisted
from {{ ref('stg_chain_events') }}
where contract_role = 'usdai'
  and event = 'BlacklistUpdated'
  and {{ in_cumulative_window("partition_date") }}
