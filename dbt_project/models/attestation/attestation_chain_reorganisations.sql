{{ config(materialized='view') }}
{#
  The chain reorganisations that reached each day, one row per (day, reorganisation): when it was detected, the
  fork block and depth, how many of the day's recorded blocks it replaced, the days it reached and what was done
  to this one (re-ingested or withdrawn).
#}
select
  partition_date,
  reorg_id,
  min(detected_at) as detected_at,
  max(fork_block) as fork_block,
  max(depth) as depth,
  count(block_number) as blocks_changed,
  max(action) as action,
  max(affected_days) as affected_days
from {{ ref('chain_reorganisations') }}
group by partition_date, reorg_id
