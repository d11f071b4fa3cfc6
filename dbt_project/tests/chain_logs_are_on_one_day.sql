-- A log (tx_hash, log_index) is on one day of the lake only: a log the window's days share with another day means
-- a day was not re-ingested after a reorg moved its transaction across midnight, and the ledger would post it
-- twice. The other day may lie outside the window: the days within `reorg_day_margin_days` either side are read
-- too (a reorg moves a transaction to the next or the previous day only), a bounded slice of staging, not all of
-- its history. Staging holds every day built, each as the lake had it when its window was last built.
with window_logs as (
  select distinct partition_date, tx_hash, log_index
  from {{ ref('stg_chain_events') }}
  where {{ in_partition_window("partition_date") }}
),

all_logs as (
  select distinct partition_date, tx_hash, log_index
  from {{ ref('stg_chain_events') }}
  where partition_date between {{ partition_window_start() }} - interval {{ var("reorg_day_margin_days") }} day
                           and {{ partition_window_end() }} + interval {{ var("reorg_day_margin_days") }} day
    and tx_hash in (select tx_hash from window_logs)
)

select window_logs.tx_hash, window_logs.log_index, window_logs.partition_date, all_logs.partition_date as other_day
from window_logs
inner join all_logs
  on all_logs.tx_hash = window_logs.tx_hash
  and all_logs.log_index = window_logs.log_index
  and all_logs.partition_date <> window_logs.partition_date
