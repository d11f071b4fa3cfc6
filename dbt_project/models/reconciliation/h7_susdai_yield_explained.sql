{#
  H7: the share price a holder sees grew by what the ledger explains. Each day's growth of totalAssets() /
  totalShares() against the ledger's: the income net of the admin fee, less the credit losses the holders bear, plus
  the change in the losses (and recoveries) the vault has not marked yet (susdai_trailing_yield, 1-day window). A
  day-return difference above the tolerance is value the ledger does not account for; below it, the value moved
  within the day between stakes or redemptions and the day's income (the vault values itself continuously, the
  ledger at the close).
#}
with {{ chain_cutoff_cte() }},
yields as (
    select partition_date, share_price_yield_by_day, explained_share_price_yield,
           {{ usd("share_price_yield_by_day - explained_share_price_yield") }} as unexplained_yield,
           {{ usd("365") }} as days_a_year
    from {{ ref('susdai_trailing_yield') }}
    where window_days = 1 and share_price_yield_by_day is not null and explained_share_price_yield is not null
),
-- The day's return in DECIMAL (DuckDB divides decimals in DOUBLE): compared with the tolerance exactly.
days as (
    select *, {{ exact_ratio("unexplained_yield", "days_a_year") }} as unexplained_daily_return from yields
)
select d.partition_date as check_date, 'susdai:share_price_yield' as entity_key, 'warn' as severity,
       {{ as_text("explained_share_price_yield") }} as expected,
       {{ as_text("share_price_yield_by_day") }} as actual,
       {{ as_text("unexplained_daily_return") }} as difference,
       'daily return within ' || {{ reconciliation_setting('yield_unexplained_daily_tolerance') }} as tolerance,
       {{ within("unexplained_daily_return", "null", "yield_unexplained_daily_tolerance") }} as within_tolerance,
       {{ text_literal("sUSDai share price growth (annualised) vs the ledger's yield less losses plus unmarked losses's change") }}
           as description,
       k.cutoff as cutoffs,
       'susdai_trailing_yield@' || cast(d.partition_date as string) as lineage
from days d left join chain_cutoff k using (partition_date)
