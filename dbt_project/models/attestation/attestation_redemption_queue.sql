{{ config(materialized='view') }}
{#
  The sUSDai redemption queue at each ledger day's close, as the report discloses it: shares requested and still
  pending, what was serviced and claimed during the day, USDai serviced and awaiting its claim, and the same read on
  chain (redemptionQueueInfo()) and in the ledger (2110).
#}
select
  partition_date,
  pending_shares,
  requested_shares,
  fulfilled_shares,
  serviced_amount,
  claimed_amount,
  unclaimed_amount,
  onchain_pending_shares,
  onchain_claimable_balance,
  ledger_redemptions_payable
from {{ ref('redemption_queue') }}
