{#
  Every blacklist log, kept in the warehouse: USDai's BlacklistUpdated, and sUSDai's own Blacklisted (StakedUSDai
  v1.0–v1.6, before v1.7 moved sUSDai to USDai's list). The attestation lists the accounts blacklisted at a day from
  the latest update of each through the day. Read from the lake's events, that meant opening every day's file of
  chain_events at every attestation; these rows are few, whatever the history. The first build reads all history: a
  blacklist that started on the day the table was added would leave earlier updates out.
#}
select
  partition_date,
  tx_hash,
  log_index,
  block_number,
  contract_role,
  cast(account as {{ dbt.type_string() }}) as account,
  is_blacklisted
from {{ ref('stg_chain_events') }}
where ((contract_role = 'usdai' and event = 'BlacklistUpdated') or (contract_role = 'susdai' and event = 'Blacklisted'))
  and {{ in_cumulative_window("partition_date") }}
