{#
  USDai's reserve events of the rebuild window (docs/ledger.md): usdai_mint, usdai_unbacked_mint, usdai_burn, reserve_conversion, reserve_deposit,
  admin_fee_withdrawn, reserve_to_custodian, insurance_recovery_received (the insurance pool's USDai paid to the protocol) and
  base_token_converted. USDai held by the protocol's own contracts is eliminated, so only mints to and burns by
  outside holders move 2000. Withdrawals are taken at par: the base token leaving USDai equals usdaiAmount.
#}
with base_token_transfers as (
  -- Each transaction's base-token transfers into and out of USDai (any base token the address book lists): the
  -- reserve leg of a deposit or a withdrawal is in the token that really moved, so the day USDai's base token
  -- changes both tokens post right.
  select
    transfers.tx_hash,
    min(case when lower(transfers.to_address) = lower(protocol.usdai_address) then transfers.contract_address end)
      as token_in,
    min(case when lower(transfers.from_address) = lower(protocol.usdai_address) then transfers.contract_address end)
      as token_out
  from {{ ref('stg_chain_events') }} as transfers
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = transfers.partition_date
  where transfers.contract_role = 'base_token' and transfers.event = 'Transfer'
    and {{ in_rebuild_window("transfers.partition_date") }}
  group by transfers.tx_hash
),

usdai_events as (
  select
    events.partition_date,
    events.block_time,
    events.tx_hash,
    events.log_index,
    events.event,
    events.from_address,
    events.to_address,
    events.caller,
    events.recipient,
    events.withdraw_token,
    events.deposit_token,
    events.value,
    events.mint_amount,
    events.usdai_amount,
    events.amount,
    protocol.usdai_usd_per_raw_unit,
    -- Without a base-token transfer in the transaction (a lake without them), the day's base token.
    {{ token_holding("coalesce(moved.token_in, moved.token_out, protocol.base_token_address)", "protocol.usdai_address") }}
      as base_token_reserve,
    {{ token_holding("coalesce(moved.token_in, protocol.base_token_address)", "protocol.usdai_address") }}
      as converted_to_reserve,
    {{ token_holding("coalesce(moved.token_out, protocol.inactive_base_token_address)", "protocol.usdai_address") }}
      as converted_from_reserve,
    protocol.base_token_usd_per_raw_unit,
    coalesce(caller_roles.is_protocol, false) as caller_is_protocol,
    coalesce(recipient_roles.is_protocol, false) as recipient_is_protocol,
    coalesce(recipient_roles.is_custodian, false) as recipient_is_custodian,
    coalesce(to_roles.is_protocol, false) as to_is_protocol,
    coalesce(from_roles.is_insurer, false) as from_is_insurer
  from {{ ref('stg_chain_events') }} as events
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = events.partition_date
  left join base_token_transfers as moved
    on moved.tx_hash = events.tx_hash
  left join {{ ref('address_roles_daily') }} as caller_roles
    on caller_roles.partition_date = events.partition_date and caller_roles.address_key = lower(events.caller)
  left join {{ ref('address_roles_daily') }} as recipient_roles
    on recipient_roles.partition_date = events.partition_date and recipient_roles.address_key = lower(events.recipient)
  left join {{ ref('address_roles_daily') }} as to_roles
    on to_roles.partition_date = events.partition_date and to_roles.address_key = lower(events.to_address)
  left join {{ ref('address_roles_daily') }} as from_roles
    on from_roles.partition_date = events.partition_date and from_roles.address_key = lower(events.from_address)
  where events.contract_role = 'usdai'
    and {{ in_rebuild_window("events.partition_date") }}
),

-- A mint in one of these transactions is backed by a deposit, is base yield, or is USDai coming back from another
-- chain through the omnichain adapter (already outstanding, in bridgedSupply, and backed here); any other mint is
-- unbacked. USDai leaving for another chain is burned with no Withdrawn and posts nothing: it stays outstanding.
explained_mint_transactions as (
  select distinct tx_hash
  from usdai_events
  where event in ('Deposited', 'Harvested')
  union
  select distinct tx_hash
  from {{ ref('stg_chain_events') }}
  where contract_role = 'usdai_bridge_adapter' and event = 'OFTReceived'
    and {{ in_rebuild_window("partition_date") }}
),

entries as (
  select
    partition_date, block_time as effective_time, tx_hash, log_index,
    'usdai_mint' as rule_id,
    '1020' as debit_account, base_token_reserve as debit_sub_account,
    '2000' as credit_account, '' as credit_sub_account,
    {{ raw_to_usd("mint_amount", "usdai_usd_per_raw_unit") }} as amount
  from usdai_events
  where event = 'Deposited' and not caller_is_protocol and not recipient_is_protocol

  union all

  -- The vault turns currency it holds into USDai (a pool withdrawal, a loan repayment, its admin fee): the
  -- currency goes into the reserve, taken at par.
  select
    partition_date, block_time, tx_hash, log_index,
    'reserve_deposit',
    '1020', base_token_reserve,
    '1020', {{ token_holding("deposit_token", "caller") }},
    {{ raw_to_usd("mint_amount", "usdai_usd_per_raw_unit") }}
  from usdai_events
  where event = 'Deposited' and caller_is_protocol

  union all

  -- Minted for someone outside the protocol, that USDai is the admin fee paid out (StakedUSDai v1.7+'s
  -- withdrawAdminFee, AdminFeeWithdrawn): the protocol's retained fee leaves its equity and becomes outstanding
  -- USDai. Minted for the protocol itself, it stays eliminated.
  select
    partition_date, block_time, tx_hash, log_index,
    'admin_fee_withdrawn',
    '3000', '',
    '2000', '',
    {{ raw_to_usd("mint_amount", "usdai_usd_per_raw_unit") }}
  from usdai_events
  where event = 'Deposited' and caller_is_protocol and not recipient_is_protocol

  union all

  select
    partition_date, block_time, tx_hash, log_index,
    'usdai_unbacked_mint',
    '3000', '',
    '2000', '',
    {{ raw_to_usd("value", "usdai_usd_per_raw_unit") }}
  from usdai_events
  where event = 'Transfer'
    and lower(from_address) = {{ zero_address() }}
    and value is not null
    and not to_is_protocol
    and tx_hash not in (select tx_hash from explained_mint_transactions)

  union all

  -- The credit insurance pool pays a claim in USDai to the protocol: the receivable is settled, and the USDai
  -- leaves circulation outside the protocol.
  select
    partition_date, block_time, tx_hash, log_index,
    'insurance_recovery_received',
    '2000', '',
    '1150', '',
    {{ raw_to_usd("value", "usdai_usd_per_raw_unit") }}
  from usdai_events
  where event = 'Transfer' and from_is_insurer and to_is_protocol and value is not null

  union all

  select
    partition_date, block_time, tx_hash, log_index,
    case
      when not caller_is_protocol then 'usdai_burn'
      when recipient_is_custodian then 'reserve_to_custodian'
      else 'reserve_conversion'
    end,
    case
      when not caller_is_protocol then '2000'
      when recipient_is_custodian then '1000'
      else '1020'
    end,
    case
      when not caller_is_protocol or recipient_is_custodian then ''
      else {{ token_holding("withdraw_token", "recipient") }}
    end,
    '1020', base_token_reserve,
    {{ raw_to_usd("usdai_amount", "usdai_usd_per_raw_unit") }}
  from usdai_events
  where event = 'Withdrawn'
    and (not caller_is_protocol or recipient_is_protocol or recipient_is_custodian)

  union all

  -- USDai v1.4 moved its reserve from wM to PYUSD: the admin takes `amount` of the former base token out and puts
  -- the same raw amount of the new one in (both 6 decimals), in one transaction. The reserve changes token, not size.
  select
    partition_date, block_time, tx_hash, log_index,
    'base_token_converted',
    '1020', converted_to_reserve,
    '1020', converted_from_reserve,
    {{ raw_to_usd("amount", "base_token_usd_per_raw_unit") }}
  from usdai_events
  where event = 'BaseTokenConverted'
),

chain_entries as (
  select
    partition_date, effective_time,
    'chain' as source,
    {{ chain_source_key("tx_hash", "log_index") }} as source_key,
    rule_id, debit_account, debit_sub_account, credit_account, credit_sub_account, amount
  from entries
)

{{ two_line_postings("chain_entries") }}
