{#
  H1: USDai's totalSupply() rose by no more than the daily limit since the day before (5%, as the public monitor
  watches it), and is never above the configured cap (no cap when the setting is empty).
#}
with supply as (
    select s.partition_date, s.onchain_total_supply, p.onchain_total_supply as previous_supply
    from {{ ref('usdai_supply_reconciliation') }} s
    left join {{ ref('usdai_supply_reconciliation') }} p on p.partition_date = s.partition_date - interval 1 day
)
select partition_date as check_date, 'usdai:daily_rise' as entity_key, 'warn' as severity,
       '<= ' || {{ reconciliation_setting('supply_daily_rise_limit') }} || ' x previous ' || {{ as_text("previous_supply") }} as expected,
       {{ as_text("onchain_total_supply") }} as actual,
       {{ as_text("onchain_total_supply - previous_supply") }} as difference,
       'rise <= ' || {{ reconciliation_setting('supply_daily_rise_limit') }} as tolerance,
       onchain_total_supply - previous_supply
           <= cast({{ reconciliation_setting('supply_daily_rise_limit') }} as decimal(18, 12)) * previous_supply as within_tolerance,
       'totalSupply() rise since the previous day' as description, '' as cutoffs,
       'usdai_supply_reconciliation@' || cast(partition_date as string) as lineage
from supply
where previous_supply > 0
{%- if var('reconciliation')['supply_cap_usd'] | string != '' %}
union all
select partition_date, 'usdai:supply_cap', 'blocker', '<= ' || {{ reconciliation_setting('supply_cap_usd') }}, {{ as_text("onchain_total_supply") }},
       {{ as_text("onchain_total_supply - cast(" ~ reconciliation_setting('supply_cap_usd') ~ " as decimal(38, 18))") }}, 'cap',
       onchain_total_supply <= cast({{ reconciliation_setting('supply_cap_usd') }} as decimal(38, 18)), 'totalSupply() against the configured cap',
       '', 'usdai_supply_reconciliation@' || cast(partition_date as string)
from supply
{%- endif %}
