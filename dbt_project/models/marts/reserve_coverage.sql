{#
  Per day: USDai supply as read on chain (on Arbitrum and bridged out), the part of it the protocol holds itself
  (eliminated: supply + bridged - outstanding), the ledger's USDai held outside the protocol and the reserves that
  back it, and the coverage ratios of docs/design.md (exact DECIMAL quotients truncated to 18 places; null when the
  denominator is zero):
    liquid_coverage = (custodian cash 1000 + T-bills 1010 + on-chain stablecoins 1020) / USDai outstanding (2000)
    total_coverage  = total assets net of allowance / total liabilities
  and the buffers over 100% in USD: liquid_buffer = liquid reserves - USDai outstanding, total_buffer = total
  assets net - total liabilities (negative: a deficit).
#}
with balances as (
  select
    partition_date,
    {{ usd("sum(case when account_code = '1000' then closing_balance else 0 end)") }} as custodian_cash,
    {{ usd("sum(case when account_code = '1010' then closing_balance else 0 end)") }} as tbills,
    {{ usd("sum(case when account_code = '1020' then closing_balance else 0 end)") }} as onchain_stablecoins,
    {{ usd("-sum(case when account_code = '2000' then closing_balance else 0 end)") }} as usdai_outstanding,
    {{ usd("-sum(case when account_code = '2100' then closing_balance else 0 end)") }} as susdai_claim,
    {{ usd("sum(case when account_type = 'asset' then closing_balance else 0 end)") }} as total_assets_net,
    {{ usd("-sum(case when account_type = 'liability' then closing_balance else 0 end)") }} as total_liabilities
  from {{ ref('trial_balance') }}
  where {{ in_rebuild_window("partition_date") }}
  group by partition_date
),

onchain_supply as (
  select
    state.partition_date,
    sum(case when state.method = 'totalSupply' then {{ raw_to_usd("state.value", "token.usd_per_raw_unit") }} end)
      as usdai_total_supply,
    sum(case when state.method = 'bridgedSupply' then {{ raw_to_usd("state.value", "token.usd_per_raw_unit") }} end)
      as usdai_bridged_supply
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('address_roles_daily') }} as token
    on token.partition_date = state.partition_date
    and token.address_key = lower(state.contract_address)
  where state.contract_role = 'usdai'
    and state.method in ('totalSupply', 'bridgedSupply')
    and state.field = 'value'
    and {{ in_rebuild_window("state.partition_date") }}
  group by state.partition_date
),

reserves as (
  select
    balances.*,
    {{ usd("custodian_cash + tbills + onchain_stablecoins") }} as liquid_reserves
  from balances
)

select
  cast(reserves.partition_date as date) as partition_date,
  {{ usd("onchain_supply.usdai_total_supply") }} as usdai_total_supply,
  {{ usd("onchain_supply.usdai_bridged_supply") }} as usdai_bridged_supply,
  {{ usd("coalesce(onchain_supply.usdai_total_supply, 0) + coalesce(onchain_supply.usdai_bridged_supply, 0)"
        ~ " - reserves.usdai_outstanding") }} as usdai_held_by_protocol,
  reserves.usdai_outstanding,
  reserves.susdai_claim,
  reserves.custodian_cash,
  reserves.tbills,
  reserves.onchain_stablecoins,
  reserves.liquid_reserves,
  {{ usd(exact_ratio("reserves.liquid_reserves", "reserves.usdai_outstanding")) }} as liquid_coverage,
  reserves.total_assets_net,
  reserves.total_liabilities,
  {{ usd(exact_ratio("reserves.total_assets_net", "reserves.total_liabilities")) }} as total_coverage,
  {{ usd("reserves.liquid_reserves - reserves.usdai_outstanding") }} as liquid_buffer,
  {{ usd("reserves.total_assets_net - reserves.total_liabilities") }} as total_buffer
from reserves
left join onchain_supply
  on onchain_supply.partition_date = reserves.partition_date
