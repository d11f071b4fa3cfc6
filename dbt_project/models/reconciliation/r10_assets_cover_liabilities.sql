{#
  R10: solvency. Every asset, net of the allowance (reserve_coverage.total_assets_net), covers every liability:
  USDai outstanding, the sUSDai holders' claim and redemptions payable (total_liabilities). sUSDai holders bear the
  vault's credit losses, so on the protocol's own books the difference is the admin fee it has kept; a deficit
  beyond the tolerance is a loss nobody's claim was marked down for (an unbacked mint, a loss the vault does not
  mark) and blocks the day's attestation.
#}
with {{ chain_cutoff_cte() }}, {{ statement_cutoff_cte() }}
select c.partition_date as check_date, 'protocol:total_coverage' as entity_key, 'blocker' as severity,
       {{ as_text("total_liabilities") }} as expected,
       {{ as_text("total_assets_net") }} as actual,
       {{ as_text("total_assets_net - total_liabilities") }} as difference,
       'deficit <= ' || {{ reconciliation_setting('solvency_deficit_tolerance') }} as tolerance,
       total_assets_net - total_liabilities
           >= -cast({{ reconciliation_setting('solvency_deficit_tolerance') }} as decimal(38, 18)) as within_tolerance,
       'total assets net of the allowance vs USDai outstanding + sUSDai claim + redemptions payable; coverage '
           || coalesce({{ as_text("round(total_coverage, 6)") }}, 'n/a') as description,
       concat_ws('; ', k.cutoff, s.cutoff) as cutoffs,
       'reserve_coverage@' || cast(c.partition_date as string) as lineage
from {{ ref('reserve_coverage') }} c left join chain_cutoff k using (partition_date)
left join statement_cutoff s using (partition_date)
