{#
  R1: USDai supply derived from events equals the supply read at the day's last block: Deposited/Harvested minus
  Withdrawn against totalSupply() + bridgedSupply() (USDai on other chains was minted here by a deposit); Transfer
  mints minus burns against totalSupply(). One row per day and derivation.
#}
with {{ chain_cutoff_cte() }},
days as (
    select * from {{ ref('usdai_supply_reconciliation') }}
),
comparisons as (
    select partition_date, 'usdai:deposit_events' as entity_key,
           onchain_total_supply + onchain_bridged_supply as expected, supply_from_deposit_events as actual,
           'mints of Deposited (+Harvested) minus burns of Withdrawn, vs totalSupply() + bridgedSupply()' as what
    from days
    union all
    select partition_date, 'usdai:transfer_events', onchain_total_supply, supply_from_transfer_events,
           'mints minus burns of USDai Transfer events, vs totalSupply()'
    from days
)
select c.partition_date as check_date, entity_key, 'blocker' as severity,
       {{ as_text("expected") }} as expected, {{ as_text("actual") }} as actual,
       {{ as_text("expected - actual") }} as difference, 'abs ' || {{ reconciliation_setting('supply_abs_tolerance') }} as tolerance,
       {{ within("expected - actual", "expected", "supply_abs_tolerance") }} as within_tolerance,
       what || ' (USD)' as description, k.cutoff as cutoffs,
       'usdai_supply_reconciliation@' || cast(c.partition_date as string) as lineage
from comparisons c left join chain_cutoff k using (partition_date)
