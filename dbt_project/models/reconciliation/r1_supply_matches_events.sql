{#
  R1: USDai supply derived from events (Deposited/Harvested minus Withdrawn; Transfer mints minus burns) equals
  totalSupply() read at the day's last block. One row per day and derivation.
#}
with {{ chain_cutoff_cte() }},
days as (
    select * from {{ ref('usdai_supply_reconciliation') }}
),
comparisons as (
    select partition_date, 'usdai:deposit_events' as entity_key,
           onchain_total_supply as expected, supply_from_deposit_events as actual,
           'mints of Deposited (+Harvested) minus burns of Withdrawn' as what
    from days
    union all
    select partition_date, 'usdai:transfer_events', onchain_total_supply, supply_from_transfer_events,
           'mints minus burns of USDai Transfer events'
    from days
)
select c.partition_date as check_date, entity_key, 'blocker' as severity,
       cast(expected as varchar) as expected, cast(actual as varchar) as actual,
       cast(expected - actual as varchar) as difference, 'abs ' || {{ reconciliation_setting('supply_abs_tolerance') }} as tolerance,
       {{ within("expected - actual", "expected", "supply_abs_tolerance") }} as within_tolerance,
       what || ' vs USDai.totalSupply() (USD)' as description, k.cutoff as cutoffs,
       'usdai_supply_reconciliation@' || cast(c.partition_date as varchar) as lineage
from comparisons c left join chain_cutoff k using (partition_date)
