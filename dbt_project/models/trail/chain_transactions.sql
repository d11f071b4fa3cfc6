{{ config(materialized='view') }}
{#
  Every transaction with a decoded log of a watched contract, one row per transaction hash (lower case): how many
  of its logs were decoded and its block.
#}
select
  lower(tx_hash) as tx_hash,
  count(*) as decoded_logs,
  min(block_number) as block_number
from {{ ref('stg_chain_events') }}
group by lower(tx_hash)
