{#
  R4: liquid reserves (custody cash, T-bills, stablecoins on chain) cover the USDai held outside the protocol:
  below the floor a blocker, below the buffer a warning.
#}
with {{ chain_cutoff_cte() }}, {{ statement_cutoff_cte() }}
select c.partition_date as check_date, 'protocol:liquid_coverage' as entity_key,
       case when liquid_coverage is null or liquid_coverage < cast({{ reconciliation_setting('coverage_floor') }} as decimal(38, 18))
            then 'blocker' else 'warn' end as severity,
       {{ as_text("usdai_outstanding") }} as expected,
       {{ as_text("liquid_reserves") }} as actual,
       {{ as_text("liquid_reserves - usdai_outstanding") }} as difference,
       '>= ' || {{ reconciliation_setting('coverage_buffer') }} || 'x (floor ' || {{ reconciliation_setting('coverage_floor') }} || 'x)' as tolerance,
       -- A floor set above the buffer still breaks below the floor.
       coalesce(liquid_coverage >= cast({{ reconciliation_setting('coverage_buffer') }} as decimal(38, 18))
                and liquid_coverage >= cast({{ reconciliation_setting('coverage_floor') }} as decimal(38, 18)),
                usdai_outstanding = 0) as within_tolerance,
       'liquid reserves (1000 + 1010 + 1020) vs USDai outstanding (2000); coverage '
           || coalesce({{ as_text("round(liquid_coverage, 6)") }}, 'n/a') as description,
       concat_ws('; ', k.cutoff, s.cutoff) as cutoffs,
       'reserve_coverage@' || cast(c.partition_date as string) as lineage
from {{ ref('reserve_coverage') }} c left join chain_cutoff k using (partition_date)
left join statement_cutoff s using (partition_date)
