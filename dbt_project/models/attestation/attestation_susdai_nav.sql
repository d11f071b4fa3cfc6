{{ config(materialized='view') }}
{#
  sUSDai's NAV of each ledger day, one row per day: the holders' claim (ledger 2100), the losses the ledger has taken
  off it that the vault has not marked yet (the allowance less the insurance claims receivable), totalAssets() on
  chain, the share price, the day's yield to holders by where it came from and the credit losses they bore, and the
  share price's yield over the last 7 and 30 days (the figures to quote: a single day swings with one-off fees)
  beside the ledger's account of it, as susdai_yield and susdai_trailing_yield have them.
#}
with windows as (
  select
    partition_date,
    max(case when window_days = 7 then share_price_yield end) as share_price_yield_7d,
    max(case when window_days = 7 then ledger_yield end) as ledger_yield_7d,
    max(case when window_days = 30 then share_price_yield end) as share_price_yield_30d,
    max(case when window_days = 30 then ledger_yield end) as ledger_yield_30d
  from {{ ref('susdai_trailing_yield') }}
  group by partition_date
)

select
  nav.partition_date,
  nav.nav_close,
  nav.unmarked_losses,
  nav.onchain_total_assets,
  nav.nav_difference,
  nav.onchain_share_price,
  nav.yield_from_loan_interest,
  nav.yield_from_tbills,
  nav.yield_from_fees,
  nav.credit_losses_borne,
  nav.annualised_yield,
  nav.onchain_annualised_yield,
  windows.share_price_yield_7d,
  windows.ledger_yield_7d,
  windows.share_price_yield_30d,
  windows.ledger_yield_30d
from {{ ref('susdai_yield') }} as nav
left join windows
  on windows.partition_date = nav.partition_date
