{{ config(materialized='view') }}
{#
  The tokens outstanding of each ledger day, one row per (day, line), from the chain's reading to the ledger's:
  minted supply (totalSupply()), bridged supply (bridgedSupply(), backed here and circulating on other chains), less
  the USDai the protocol's own contracts hold (one line per holder, negative), the tokens outstanding outside the
  protocol from the chain, the ledger's 2000 (what is attested) and the difference ledger - chain. Which of the
  outstanding tokens are redeemable is attestation_redeemability. `measure` names the line; `amount` is USD (1 USDai = 1 USD).
#}
with coverage as (
  select partition_date, usdai_total_supply, coalesce(usdai_bridged_supply, 0) as bridged_supply, usdai_outstanding
  from {{ ref('reserve_coverage') }}
),

held as (
  select partition_date, holder_role, holder, amount
  from {{ ref('usdai_protocol_holdings') }}
),

held_total as (
  select coverage.partition_date, coalesce(sum(held.amount), 0) as amount
  from coverage
  left join held using (partition_date)
  group by coverage.partition_date
),

chain as (
  select
    coverage.*,
    {{ usd("coverage.usdai_total_supply + coverage.bridged_supply - held_total.amount") }} as redeemable_onchain
  from coverage
  inner join held_total using (partition_date)
),

lines as (
  select partition_date, 1 as line_order, 'minted_supply' as measure, null as holder_role, null as holder,
         usdai_total_supply as amount
  from chain
  union all
  select partition_date, 2, 'bridged_supply', null, null, bridged_supply
  from chain
  union all
  select partition_date, 3, 'held_by_protocol', holder_role, holder, {{ usd("-amount") }}
  from held
  where partition_date in (select partition_date from coverage)
  union all
  select partition_date, 5, 'outstanding_onchain', null, null, redeemable_onchain
  from chain
  union all
  select partition_date, 6, 'outstanding_ledger', null, null, usdai_outstanding
  from chain
  union all
  select partition_date, 7, 'difference', null, null, {{ usd("usdai_outstanding - redeemable_onchain") }}
  from chain
)

select
  partition_date,
  row_number() over (partition by partition_date order by line_order, holder_role, holder) as line_no,
  measure,
  holder_role,
  holder,
  {{ usd("amount") }} as amount
from lines
