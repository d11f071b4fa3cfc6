{{ config(materialized='view') }}
{#
  Every day's inputs hashed and chained to the previous day's, as the journal is (macro journal_hash_chain): the
  day's text is one line per input (each ingested file's source and sha256 in order of source, name and hash; then
  the chain's block range and its last block's hash, which commits to every block before it). A day's inputs_chain_hash
  changes when an input of that day or of any day before it changes: a restatement of a day whose chain hash
  has not moved since the day was attested had no cause in its inputs (R11).
#}
with inputs as (
  select partition_date, 0 as source_order, source || '|' || sha256 as line, file_name, sha256
  from {{ ref('ingested_files') }}
  union all
  select
    partition_date, 1, 'chain|' || cast(from_block as {{ dbt.type_string() }}) || '|'
      || cast(to_block as {{ dbt.type_string() }}) || '|' || coalesce(to_block_hash, ''), null, null
  from {{ ref('chain_cutoffs') }}
),

days as (
  select
    partition_date,
    {{ sha256_hex(dbt.listagg("line", "'\n'", "order by source_order, line, file_name, sha256")) }} as day_digest
  from inputs
  group by partition_date
),

chained as (
  {{ journal_hash_chain("days", journal_genesis_hash()) }}
)

select
  cast(partition_date as date) as partition_date,
  day_digest as inputs_digest,
  chain_hash as inputs_chain_hash
from chained
