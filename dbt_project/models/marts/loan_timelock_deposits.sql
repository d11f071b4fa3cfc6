{#
  Every sUSDai pre-funding deposit and cancellation log (StakedUSDai v1.5-v1.8 LoanTimelock*, v1.10
  LoanDepositTimelock*, v1.9 LoanEscrowTimelock*), kept in the warehouse: check H9 reads each pre-funding's
  expiration from them, and they are few whatever the history. USDai in USD; the expiration as the contract gives
  it, unix seconds (null on a cancellation and on an escrow deposit, which has none). The first build reads all
  history.
#}
select
  events.partition_date,
  events.tx_hash,
  events.log_index,
  events.block_number,
  events.block_time,
  events.event,
  events.loan_terms_hash,
  {{ raw_to_usd("events.usdai_amount", "protocol.usdai_usd_per_raw_unit") }} as usdai_amount,
  events.expiration
from {{ ref('stg_chain_events') }} as events
inner join {{ ref('protocol_roles_daily') }} as protocol
  on protocol.partition_date = events.partition_date
where events.contract_role = 'susdai'
  and events.event in ('LoanTimelockDeposited', 'LoanTimelockCancelled', 'LoanDepositTimelockDeposited',
                       'LoanDepositTimelockCancelled', 'LoanEscrowTimelockDeposited', 'LoanEscrowTimelockCancelled')
  and {{ in_cumulative_window("events.partition_date") }}
