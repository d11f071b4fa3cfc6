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

entries as (
  select
    e.partition_date, e.block_time, e.tx_hash, e.log_index,
    'pool_deposited' as rule_id,
    '1120' as debit_account, e.position as debit_sub_account,
    '1020' as credit_account, {{ token_holding("c.currency", "protocol.susdai_address") }} as credit_sub_account,
    e.usdai_usd as amount
  from withdrawals as e
  inner join {{ ref('protocol_roles_daily') }} as protocol on protocol.partition_date = e.partition_date
  left join currencies as c on c.tx_hash = e.tx_hash
  where e.event = 'PoolDeposited' and {{ in_rebuild_window("e.partition_date") }}
)

select
  partition_date, block_time as effective_time, 'chain' as source,
  {{ chain_source_key("tx_hash", "log_index") }} as source_key,
  rule_id, line_no, account_code, sub_account, {{ usd("signed_amount") }} as signed_amount
from (
  select partition_date, block_time, tx_hash, log_index, rule_id, 1 as line_no, debit_account as account_code,
         debit_sub_account as sub_account, amount as signed_amount
  from entries
  union all
  select partition_date, block_time, tx_hash, log_index, rule_id, 2, credit_account, credit_sub_account, -amount
  from entries
  union all
  -- A withdrawal: the currency comes back to the vault (1020), recovering cost (1120) and, beyond it, income (4000).
  select w.partition_date, w.block_time, w.tx_hash, w.log_index, 'pool_withdrawn', 1, '1020',
         {{ token_holding("c.currency", "protocol.susdai_address") }}, w.usdai_usd
  from withdrawals as w
  inner join {{ ref('protocol_roles_daily') }} as protocol on protocol.partition_date = w.partition_date
  left join currencies as c on c.tx_hash = w.tx_hash
  where w.event = 'PoolWithdrawn' and {{ in_rebuild_window("w.partition_date") }}
  union all
  select partition_date, block_time, tx_hash, log_index, 'pool_withdrawn', 2, '1120', position, -recovered_usd
  from withdrawals
  where event = 'PoolWithdrawn' and recovered_usd > 0 and {{ in_rebuild_window("partition_date") }}
  union all
  select partition_date, block_time, tx_hash, log_index, 'pool_withdrawn', 3, '4000', '', recovered_usd - usdai_usd
  from withdrawals
  where event = 'PoolWithdrawn' and usdai_usd > recovered_usd and {{ in_rebuild_window("partition_date") }}
) as lines
