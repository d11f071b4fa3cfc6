{#
  R6: sUSDai's totalAssets() at the day's last block equals the ledger's sUSDai holders' claim (2100).
#}
with {{ chain_cutoff_cte() }}, {{ address_book_cte() }},
nav as (
    select s.partition_date, s.value * u.usd_per_raw_unit as onchain_nav
    from {{ ref('chain_state_reads') }} s
    join book u on u.partition_date = s.partition_date and u.role = 'usdai'
    where s.contract_role = 'susdai' and s.method = 'totalAssets' and s.field = 'value'
),
ledger as (
    select partition_date, -closing_balance as ledger_claim from {{ ref('trial_balance') }}
    where account_code = '2100'
)
select n.partition_date as check_date, 'susdai:total_assets' as entity_key, 'warn' as severity,
       cast(onchain_nav as varchar) as expected, cast(ledger_claim as varchar) as actual,
       cast(onchain_nav - ledger_claim as varchar) as difference,
       'abs ' || {{ reconciliation_setting('nav_abs_tolerance') }} || ', rel ' || {{ reconciliation_setting('nav_rel_tolerance') }} as tolerance,
       {{ within("onchain_nav - ledger_claim", "onchain_nav", "nav_abs_tolerance", "nav_rel_tolerance") }} as within_tolerance,
       'sUSDai.totalAssets() vs ledger 2100' as description, k.cutoff as cutoffs,
       'chain_state + trial_balance 2100@' || cast(n.partition_date as varchar) as lineage
from nav n join ledger l using (partition_date) left join chain_cutoff k using (partition_date)
