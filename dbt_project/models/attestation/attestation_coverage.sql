{{ config(materialized='view') }}
{#
  The attestation's headline of each ledger day, one row per day: reserve_coverage's supply, reserves, coverage
  ratios and buffers, and the ledger hash the report commits to (journal_day_hashes' chain hash through the day:
  every line of every day up to it). Read for the day, and through the day for the coverage chart.
#}
select
  coverage.*,
  hashes.chain_hash as ledger_hash
from {{ ref('reserve_coverage') }} as coverage
left join {{ ref('journal_day_hashes') }} as hashes using (partition_date)
