{#
  The vault's loan pre-fundings, over the rebuild window (docs/ledger.md): through the deposit timelock (StakedUSDai
  v1.5-v1.8 `LoanTimelock*`, v1.10 `LoanDepositTimelock*`) and the escrow timelock (v1.9 `LoanEscrowTimelock*`).
  loan_timelock_deposited (a deposit), loan_timelock_cancelled (a cancellation, its USDai back to the vault),
  loan_timelock_consumed (the router's LoanOriginated of a pre-funded loan) and loan_escrow_interest (the interest an
  escrow deposit earned, paid to the vault in USDai when the loan takes it or the vault cancels). Amounts are USDai;
  the sub-account of 1030 is the loanTermsHash.

  The vault's USDai is eliminated (it is the protocol's own liability held by itself: a stake debits 2000). USDai in
  a timelock is not the vault's to spend but committed to the loan, so it is outstanding again (2000) and the
  vault's claim on it is an asset of its own (1030) until the loan takes it or the vault cancels. At origination
  the router takes the deposit and swaps it into the loan currency through USDai's withdraw, which posts as any
  protocol conversion (reserve_conversion); what the origination adds is that the deposit is used up: the
  timelock's USDai is burned (2000) and the claim on it is gone (1030).
#}
with timelock_events as (
  select
    events.partition_date,
    events.block_time,
    events.block_number,
    events.tx_hash,
    events.log_index,
    events.event,
    events.loan_terms_hash,
    case
      when events.event in ('LoanTimelockDeposited', 'LoanDepositTimelockDeposited', 'LoanEscrowTimelockDeposited')
        then 'deposited'
      when events.event in ('LoanTimelockCancelled', 'LoanDepositTimelockCancelled', 'LoanEscrowTimelockCancelled')
        then 'cancelled'
      else 'withdrawn'
    end as movement,
    {{ raw_to_usd("coalesce(events.usdai_amount, 0)", "protocol.usdai_usd_per_raw_unit") }} as usdai_usd,
    {{ raw_to_usd("coalesce(events.interest, 0)", "protocol.usdai_usd_per_raw_unit") }} as interest_usd
  from {{ ref('stg_chain_events') }} as events
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = events.partition_date
  where events.contract_role = 'susdai'
    and events.event in ('LoanTimelockDeposited', 'LoanTimelockCancelled', 'LoanDepositTimelockDeposited',
                         'LoanDepositTimelockCancelled', 'LoanEscrowTimelockDeposited', 'LoanEscrowTimelockCancelled',
                         'LoanEscrowTimelockWithdrawn')
),

window_originations as (
  select partition_date, block_time, block_number, tx_hash, log_index, loan_terms_hash
  from {{ ref('loan_router_events_usd') }}
  where event = 'LoanOriginated'
    and {{ in_rebuild_window("partition_date") }}
),

-- What the timelock holds for the loan's terms when the router originates it: the deposits less the cancellations
-- logged before the origination, in any earlier day as well.
consumed as (
  select
    originations.partition_date,
    originations.block_time,
    originations.tx_hash,
    originations.log_index,
    originations.loan_terms_hash,
    {{ usd("sum(case timelock.movement when 'deposited' then timelock.usdai_usd
                                       when 'cancelled' then -timelock.usdai_usd else 0 end)") }} as usdai_usd
  from window_originations as originations
  inner join timelock_events as timelock
    on timelock.loan_terms_hash = originations.loan_terms_hash
    and (timelock.block_number < originations.block_number
         or (timelock.block_number = originations.block_number and timelock.log_index < originations.log_index))
  group by
    originations.partition_date, originations.block_time, originations.tx_hash, originations.log_index,
    originations.loan_terms_hash
),

entries as (
  select
    partition_date, block_time, tx_hash, log_index,
    case movement when 'deposited' then 'loan_timelock_deposited' else 'loan_timelock_cancelled' end as rule_id,
    case movement when 'deposited' then '1030' else '2000' end as debit_account,
    case movement when 'deposited' then loan_terms_hash else '' end as debit_sub_account,
    case movement when 'deposited' then '2000' else '1030' end as credit_account,
    case movement when 'deposited' then '' else loan_terms_hash end as credit_sub_account,
    usdai_usd as amount
  from timelock_events
  where movement in ('deposited', 'cancelled')
    and {{ in_rebuild_window("partition_date") }}

  union all

  -- An escrow deposit earns interest until the loan takes it (LoanEscrowTimelockWithdrawn) or the vault cancels it:
  -- paid to the vault in USDai, which comes back into the protocol (2000), as the loans' interest income (4000).
  select
    partition_date, block_time, tx_hash, log_index,
    'loan_escrow_interest',
    '2000', '',
    '4000', '',
    interest_usd
  from timelock_events
  where movement in ('cancelled', 'withdrawn') and interest_usd > 0
    and {{ in_rebuild_window("partition_date") }}

  union all

  select
    partition_date, block_time, tx_hash, log_index,
    'loan_timelock_consumed',
    '2000', '',
    '1030', loan_terms_hash,
    usdai_usd
  from consumed
  where usdai_usd > 0
),

chain_entries as (
  select
    partition_date,
    block_time as effective_time,
    'chain' as source,
    {{ chain_source_key("tx_hash", "log_index") }} as source_key,
    rule_id, debit_account, debit_sub_account, credit_account, credit_sub_account, amount
  from entries
)

{{ two_line_postings("chain_entries") }}
