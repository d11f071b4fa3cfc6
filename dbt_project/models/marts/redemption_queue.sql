{#
  The sUSDai redemption queue per ledger day, derived from the vault's events and reconciled to
  redemptionQueueInfo() read at the day's state block. Shares are sUSDai (18 decimals), amounts USDai in USD.
    requested_shares          RedeemRequest.shares of the day: shares leaving circulation for the queue
    fulfilled_shares          RedemptionProcessed.fulfilledShares of the day
    serviced_amount           RedemptionProcessed.amount of the day: USDai set aside for the redeemers
    claimed_amount            Withdraw.assets of the day: USDai the redeemers took
    pending_shares            requested but not yet serviced, cumulative through the day
    unclaimed_amount          serviced but not yet claimed, cumulative through the day
    onchain_pending_shares    redemptionQueueInfo().pendingShares
    onchain_claimable_balance redemptionQueueInfo().balance
    ledger_redemptions_payable  ledger 2110 at the day's close (credit balance, positive)
    pending_shares_difference       onchain_pending_shares - pending_shares
    claimable_balance_difference    onchain_claimable_balance - unclaimed_amount
    ledger_payable_difference       ledger_redemptions_payable - onchain_claimable_balance
  On-chain columns are null on a day whose state has no redemptionQueueInfo() read. The cumulative columns carry
  forward from the mart's own last day before the rebuild window.
#}
with ledger_days as (
  {{ ledger_days() }}
),

queue_events as (
  select
    events.partition_date,
    sum(case when events.event = 'RedeemRequest'
             then events.shares * protocol.susdai_units_per_raw_unit else 0 end) as requested_shares,
    sum(case when events.event = 'RedemptionProcessed'
             then events.fulfilled_shares * protocol.susdai_units_per_raw_unit else 0 end) as fulfilled_shares,
    sum(case when events.event = 'RedemptionProcessed'
             then events.amount * protocol.usdai_usd_per_raw_unit else 0 end) as serviced_amount,
    sum(case when events.event = 'Withdraw'
             then events.assets * protocol.usdai_usd_per_raw_unit else 0 end) as claimed_amount
  from {{ ref('stg_chain_events') }} as events
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = events.partition_date
  where events.contract_role = 'susdai'
    and events.event in ('RedeemRequest', 'RedemptionProcessed', 'Withdraw')
    and {{ in_rebuild_window("events.partition_date") }}
  group by events.partition_date
),

queue_info as (
  select
    state.partition_date,
    {{ usd("max(case when state.field = 'pendingShares' then state.value end) * protocol.susdai_units_per_raw_unit") }}
      as onchain_pending_shares,
    {{ usd("max(case when state.field = 'balance' then state.value end) * protocol.usdai_usd_per_raw_unit") }}
      as onchain_claimable_balance
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = state.partition_date
  where state.contract_role = 'susdai'
    and state.method = 'redemptionQueueInfo'
    and {{ in_rebuild_window("state.partition_date") }}
  group by state.partition_date, protocol.susdai_units_per_raw_unit, protocol.usdai_usd_per_raw_unit
),

payable as (
  select partition_date, {{ usd("-closing_balance") }} as ledger_redemptions_payable
  from {{ ref('trial_balance') }}
  where account_code = '2110'
    and {{ in_rebuild_window("partition_date") }}
),

opening as (
  {{ carried_forward({"pending_shares": usd_type(), "unclaimed_amount": usd_type()}) }}
),

days as (
  select
    ledger_days.partition_date,
    {{ usd("coalesce(queue_events.requested_shares, 0)") }} as requested_shares,
    {{ usd("coalesce(queue_events.fulfilled_shares, 0)") }} as fulfilled_shares,
    {{ usd("coalesce(queue_events.serviced_amount, 0)") }} as serviced_amount,
    {{ usd("coalesce(queue_events.claimed_amount, 0)") }} as claimed_amount
  from ledger_days
  left join queue_events
    on queue_events.partition_date = ledger_days.partition_date
),

cumulative as (
  select
    days.*,
    {{ usd(
      "coalesce((select pending_shares from opening), 0)"
      ~ " + sum(requested_shares - fulfilled_shares) over ("
      ~ " order by partition_date rows between unbounded preceding and current row)"
    ) }} as pending_shares,
    {{ usd(
      "coalesce((select unclaimed_amount from opening), 0)"
      ~ " + sum(serviced_amount - claimed_amount) over ("
      ~ " order by partition_date rows between unbounded preceding and current row)"
    ) }} as unclaimed_amount
  from days
)

select
  cast(cumulative.partition_date as date) as partition_date,
  cumulative.requested_shares,
  cumulative.fulfilled_shares,
  cumulative.serviced_amount,
  cumulative.claimed_amount,
  cumulative.pending_shares,
  cumulative.unclaimed_amount,
  queue_info.onchain_pending_shares,
  queue_info.onchain_claimable_balance,
  payable.ledger_redemptions_payable,
  {{ usd("queue_info.onchain_pending_shares - cumulative.pending_shares") }} as pending_shares_difference,
  {{ usd("queue_info.onchain_claimable_balance - cumulative.unclaimed_amount") }} as claimable_balance_difference,
  {{ usd("payable.ledger_redemptions_payable - queue_info.onchain_claimable_balance") }} as ledger_payable_difference
from cumulative
left join queue_info
  on queue_info.partition_date = cumulative.partition_date
left join payable
  on payable.partition_date = cumulative.partition_date
