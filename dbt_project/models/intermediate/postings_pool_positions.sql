{#
  The vault's MetaStreet pool positions (StakedUSDai v1.0-v1.5), over the rebuild window (docs/ledger.md):
  pool_deposited (PoolDeposited) and pool_withdrawn (PoolWithdrawn). The vault swaps USDai into the pool's currency
  through USDai's withdraw (a reserve_conversion to the vault) and deposits it at a tick of the pool; withdrawing, it
  swaps the currency back through USDai's deposit (a reserve_deposit). Both are taken at par in USDai, as every
  conversion is, so the currency's sub-account of 1020 nets to zero; the events carry the currency only through the
  transaction's USDai Withdrawn or Deposited.

  A position is carried at cost, sub-account `pool@tick`: the events give amounts, never what a share is worth, so
  a withdrawal first recovers the position's remaining cost (1120) and only what it brings beyond is income (4000,
  the pool's interest on the vault's loans through it): the cost-recovery method. The remaining cost before each
  withdrawal is the running sum of deposits less withdrawals floored at zero, computed over all history (a few rows).
#}
with pool_events as (
  select
    events.partition_date,
    events.block_time,
    events.block_number,
    events.tx_hash,
    events.log_index,
    events.event,
    events.pool || '@' || events.tick as position,
    {{ raw_to_usd("events.usdai_amount", "protocol.usdai_usd_per_raw_unit") }} as usdai_usd
  from {{ ref('stg_chain_events') }} as events
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = events.partition_date
  where events.contract_role = 'susdai' and events.event in ('PoolDeposited', 'PoolWithdrawn')
),

-- The reflection of the running sum at zero: the cost left after event k is S(k) - min(0, min over j <= k of S(j)),
-- S being deposits less withdrawals so far.
running as (
  select
    *,
    sum(case event when 'PoolDeposited' then usdai_usd else -usdai_usd end) over (
      partition by position order by block_number, log_index rows unbounded preceding) as running_sum
  from pool_events
),

cost as (
  select
    *,
    running_sum - least(0, min(running_sum) over (
      partition by position order by block_number, log_index rows unbounded preceding)) as cost_after
  from running
),

withdrawals as (
  select
    *,
    -- a withdrawal recovers the cost left before it, at most
    least(usdai_usd, coalesce(lag(cost_after) over (
      partition by position order by block_number, log_index), 0)) as recovered_usd
  from cost
),

-- The currency of the pool, from the transaction's conversion through USDai.
currencies as (
  select tx_hash, min(coalesce(withdraw_token, deposit_token)) as currency
  from {{ ref('stg_chain_events') }}
  where contract_role = 'usdai' and event in ('Withdrawn', 'Deposited')
    and tx_hash in (select tx_hash from pool_events)
  group by tx_hash
),

-- The window's events, each with the vault's holding of the pool's currency (the 1020 sub-account).
window_events as (
  select
    withdrawals.*,
    {{ token_holding("currencies.currency", "protocol.susdai_address") }} as currency_holding
  from withdrawals
  inner join {{ ref('protocol_roles_daily') }} as protocol on protocol.partition_date = withdrawals.partition_date
  left join currencies on currencies.tx_hash = withdrawals.tx_hash
  where {{ in_rebuild_window("withdrawals.partition_date") }}
),

lines as (
  select partition_date, block_time, tx_hash, log_index, 'pool_deposited' as rule_id,
         1 as line_no, '1120' as account_code, position as sub_account, usdai_usd as signed_amount
  from window_events where event = 'PoolDeposited'
  union all
  select partition_date, block_time, tx_hash, log_index, 'pool_deposited', 2, '1020', currency_holding, -usdai_usd
  from window_events where event = 'PoolDeposited'
  union all
  -- A withdrawal: the currency comes back to the vault (1020), recovering cost (1120) and, beyond it, income (4000).
  select partition_date, block_time, tx_hash, log_index, 'pool_withdrawn', 1, '1020', currency_holding, usdai_usd
  from window_events where event = 'PoolWithdrawn'
  union all
  select partition_date, block_time, tx_hash, log_index, 'pool_withdrawn', 2, '1120', position, -recovered_usd
  from window_events where event = 'PoolWithdrawn' and recovered_usd > 0
  union all
  select partition_date, block_time, tx_hash, log_index, 'pool_withdrawn', 3, '4000', '', recovered_usd - usdai_usd
  from window_events where event = 'PoolWithdrawn' and usdai_usd > recovered_usd
)

{{ chain_line_postings("lines") }}
