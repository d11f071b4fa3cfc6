{{ config(materialized='view') }}
{#
  The journal's hash chain recomputed from its lines when it is read, beside the chain the ledger build stored
  (journal_day_hashes): the ledger hash an attestation prints is the recomputed one, so a line edited in the
  warehouse after the build changes the hash instead of hiding behind the stored chain. One row per ledger day.
#}
with digests as (
  {{ journal_day_digests("select partition_date from " ~ ref('journal_day_hashes')) }}
),

chained as (
  {{ journal_hash_chain("digests", journal_genesis_hash()) }}
)

select
  cast(chained.partition_date as date) as partition_date,
  cast(digests.line_count as bigint) as line_count,
  chained.day_digest,
  chained.chain_hash,
  stored.line_count as stored_line_count,
  stored.day_digest as stored_day_digest,
  stored.chain_hash as stored_chain_hash
from chained
inner join digests
  on digests.partition_date = chained.partition_date
inner join {{ ref('journal_day_hashes') }} as stored
  on stored.partition_date = chained.partition_date
