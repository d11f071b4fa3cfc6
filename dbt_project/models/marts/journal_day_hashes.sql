{#
  Tamper evidence: each ledger day's journal hashed, and chained to the previous day's hash.
    line_count           journal lines of the day
    day_digest           sha256 of the day's lines (every column, macro journal_record_text), one per line
                         ordered by entry_id and line_no, joined by newlines; an empty day hashes ''
    previous_chain_hash  the chain hash of the previous ledger day (64 zeros before the first)
    chain_hash           sha256(previous_chain_hash || day_digest)
  Any edit of a posted line changes its day's digest and every later chain hash; the test
  journal_day_hash_chain_holds recomputes the chain from journal_lines. A restatement adds lines to the day it
  restates, so that day and the later ones are rebuilt with it (the rebuild window) and hash anew: an
  attestation prints the chain hash it was issued on.
  On DuckDB the pre-hook computes the day digests a calendar month per statement (macro
  stage_journal_day_digests): in one statement, a year's ordered string_agg held every line's text at once.
#}
{{ config(pre_hook=("{{ stage_journal_day_digests('journal_day_digests_of_window', ledger_days()) }}"
                    if target.type == "duckdb" else ""),
          post_hook=("drop table if exists journal_day_digests_of_window" if target.type == "duckdb" else "")) }}
with ledger_days as (
  {{ ledger_days() }}
),

digests as (
  {%- if target.type == "duckdb" %}
  select * from journal_day_digests_of_window  -- the pre-hook's, a month at a time
  {%- else %}
  {{ journal_day_digests("select * from ledger_days", partition_window_start(), rebuild_window_end()) }}
  {%- endif %}
),

opening as (
  {{ carried_forward({"chain_hash": dbt.type_string()}) }}
),

chained as (
  {{ journal_hash_chain("digests", "coalesce((select chain_hash from opening), " ~ journal_genesis_hash() ~ ")") }}
)

select
  cast(chained.partition_date as date) as partition_date,
  cast(digests.line_count as bigint) as line_count,
  chained.day_digest,
  chained.previous_chain_hash,
  chained.chain_hash
from chained
inner join digests
  on digests.partition_date = chained.partition_date
