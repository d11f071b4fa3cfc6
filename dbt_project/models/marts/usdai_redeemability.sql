{{ config(materialized='view') }}
{#
  USDai on chain at each day's state block, by redeemability as the AICPA stablecoin criteria (2025) classify
  tokens, one row per class, component and holder (USD):
    held by the protocol         the protocol's own contracts' balances, less the sUSDai vault's USDai set aside
                                 for serviced redemptions: not outstanding, eliminated
    temporarily non-redeemable   serviced redemptions awaiting their claim (redemptionQueueInfo().balance, held
                                 by the vault); balances of accounts blacklisted at the day's close (frozen)
    permanently non-redeemable   balances of keyless addresses (address book role `keyless`, e.g. 0x...dEaD)
    redeemable                   the rest of totalSupply(): held outside the protocol, free to move
    on other chains              bridgedSupply(): backed here, redeemable where it circulates
  The classes other than `on other chains` add up to totalSupply(); `redeemable` is that remainder, so the
  attestation sets it beside the ledger's USDai outstanding (2000) less the non-redeemable classes it includes.
#}
with state as (
  select
    state.partition_date,
    state.method,
    state.key,
    lower(state.key) as key_address,
    state.field,
    {{ raw_to_usd("state.value", "protocol.usdai_usd_per_raw_unit") }} as amount
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = state.partition_date
  where (state.contract_role = 'usdai' and state.method in ('totalSupply', 'bridgedSupply', 'balanceOf'))
     or (state.contract_role = 'susdai' and state.method = 'redemptionQueueInfo' and state.field = 'balance')
),

roles as (
  select partition_date, lower(address) as address_key, role
  from {{ ref('address_book') }}
),

blacklisted as (
  select partition_date, lower(account) as address_key
  from {{ ref('blacklisted_accounts') }}
  where contract_role = 'usdai'
),

protocol_holdings as (
  select partition_date, lower(holder) as address_key, holder_role
  from {{ ref('usdai_protocol_holdings') }}
),

balances as (
  select
    state.partition_date,
    state.key as holder,
    state.amount,
    protocol_holdings.holder_role as protocol_role,
    keyless.address_key is not null as is_keyless,
    blacklisted.address_key is not null as is_blacklisted
  from state
  left join protocol_holdings
    on protocol_holdings.partition_date = state.partition_date
    and protocol_holdings.address_key = state.key_address
  left join roles as keyless
    on keyless.partition_date = state.partition_date
    and keyless.address_key = state.key_address
    and keyless.role = 'keyless'
  left join blacklisted
    on blacklisted.partition_date = state.partition_date
    and blacklisted.address_key = state.key_address
  where state.method = 'balanceOf'
),

serviced_unclaimed as (
  select partition_date, amount from state where method = 'redemptionQueueInfo'
),

vault as (
  select address_key, partition_date from roles where role = 'susdai'
),

classified as (
  select
    balances.partition_date,
    'held by the protocol' as redeemability,
    balances.protocol_role || ' contract' as component,
    balances.holder,
    {{ usd("balances.amount - case when vault.address_key is not null then coalesce(serviced_unclaimed.amount, 0) else 0 end") }}
      as amount_usd
  from balances
  left join vault
    on vault.partition_date = balances.partition_date
    and vault.address_key = lower(balances.holder)
  left join serviced_unclaimed
    on serviced_unclaimed.partition_date = balances.partition_date
  where balances.protocol_role is not null

  union all

  select
    serviced_unclaimed.partition_date,
    'temporarily non-redeemable',
    'redemption queue: serviced, awaiting claim',
    balances.holder,
    serviced_unclaimed.amount
  from serviced_unclaimed
  inner join vault
    on vault.partition_date = serviced_unclaimed.partition_date
  inner join balances
    on balances.partition_date = serviced_unclaimed.partition_date
    and lower(balances.holder) = vault.address_key

  union all

  select partition_date, 'temporarily non-redeemable', 'frozen by the blacklist', holder, amount
  from balances
  where is_blacklisted and protocol_role is null

  union all

  select partition_date, 'permanently non-redeemable', 'held at a keyless address', holder, amount
  from balances
  where is_keyless and protocol_role is null and not is_blacklisted

  union all

  select partition_date, 'on other chains', 'bridgedSupply()', '', amount
  from state
  where method = 'bridgedSupply'
),

supply as (
  select partition_date, amount as total_supply from state where method = 'totalSupply'
)

select
  cast(partition_date as date) as partition_date,
  redeemability,
  component,
  holder,
  amount_usd
from classified

union all

select
  cast(supply.partition_date as date),
  'redeemable',
  'held outside the protocol, free to move',
  '',
  {{ usd("supply.total_supply - coalesce((select sum(c.amount_usd) from classified as c where c.partition_date = supply.partition_date and c.redeemability != 'on other chains'), 0)") }}
from supply
