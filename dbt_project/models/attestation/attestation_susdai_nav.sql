{{ config(materialized='view') }}
{#
  sUSDai's NAV of each ledger day, one row per day: the holders' claim (ledger 2100) against totalAssets() on chain,
  the share price, and the day's yield to holders by where it came from, as susdai_yield has them.
#}
select
  partition_date,
  nav_close,
  onchain_total_assets,
  nav_difference,
  onchain_share_price,
  yield_from_loan_interest,
  yield_from_tbills,
  yield_from_fees,
  annualised_yield,
  onchain_annualised_yield
from {{ ref('susdai_yield') }}
