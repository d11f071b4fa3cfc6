{{ config(materialized='view') }}
{#
  The journal's hash chain checked against its lines when it is read, beside the chain the ledger build stored
  (journal_day_hashes): the ledger hash an attestation prints is checked, so a line edited in the warehouse after
  the build cannot hide behind the stored chain. One row per ledger day, each computed from that day's lines and the
  stored rows of the day and the day before alone, so a reader's filter on partition_date reaches the journal's
  scan: the readers take the days a calendar month at a time (assets/attestation/journal_chain.py), and a year's
  digests are never held at once. Every day through a day holds (the day's digest and line count are the stored
  ones, and chain_links) exactly when chain_hash at that day is the chain recomputed from the genesis hash.
#}
with stored as (
  select
    partition_date,
    line_count,
    day_digest,
    previous_chain_hash,
    chain_hash,
    coalesce(lag(chain_hash) over (order by partition_date), {{ journal_genesis_hash() }}) as chain_hash_before
  from {{ ref('journal_day_hashes') }}
),

digests as (
  {{ journal_day_digests("select partition_date from " ~ ref('journal_day_hashes')) }}
)

select
  digests.partition_date,
  cast(digests.line_count as bigint) as line_count,
  digests.day_digest,
  {{ sha256_hex(dbt.concat(["stored.previous_chain_hash", "digests.day_digest"])) }} as chain_hash,
  stored.previous_chain_hash = stored.chain_hash_before
    and stored.chain_hash = {{ sha256_hex(dbt.concat(["stored.previous_chain_hash", "stored.day_digest"])) }}
    as chain_links,
  stored.line_count as stored_line_count,
  stored.day_digest as stored_day_digest,
  stored.chain_hash as stored_chain_hash
from digests
inner join stored
  on stored.partition_date = digests.partition_date
