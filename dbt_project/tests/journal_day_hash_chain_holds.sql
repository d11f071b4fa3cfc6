-- Tamper evidence: recompute the digest of every day of the window from journal_lines, and the hash chain from
-- the stored hash of the day before it (the genesis hash when the window starts the ledger); any edited, added or
-- removed line, or any edited hash, shows as a row. A build over all history (the default window) verifies the
-- whole chain.
{%- if target.type == "duckdb" and flags.WHICH in ("build", "test", "retry") -%}
  {#- the window's digests a month at a time before the test's query reads them (macro stage_journal_day_digests),
      when the test runs: `dbt compile` and `dbt docs generate` compile it with no warehouse to read -#}
  {%- do stage_journal_day_digests("journal_day_digests_tested",
        "select partition_date from " ~ ref('journal_day_hashes') ~ " where partition_date >= " ~ partition_window_start()) -%}
{%- endif %}
with days as (
  select * from {{ ref('journal_day_hashes') }}
  where partition_date >= {{ partition_window_start() }}
),

digests as (
  {%- if target.type == "duckdb" %}
  select * from journal_day_digests_tested
  {%- else %}
  {{ journal_day_digests("select partition_date from days", partition_window_start()) }}
  {%- endif %}
),

opening as (
  select chain_hash
  from {{ ref('journal_day_hashes') }}
  where partition_date = (
    select max(partition_date) from {{ ref('journal_day_hashes') }}
    where partition_date < {{ partition_window_start() }}
  )
),

recomputed as (
  {{ journal_hash_chain("digests", "coalesce((select chain_hash from opening), " ~ journal_genesis_hash() ~ ")") }}
)

select
  days.partition_date,
  days.chain_hash as stored_chain_hash,
  recomputed.chain_hash as recomputed_chain_hash
from days
left join recomputed
  on recomputed.partition_date = days.partition_date
left join digests
  on digests.partition_date = days.partition_date
where recomputed.chain_hash is null
   or days.chain_hash <> recomputed.chain_hash
   or days.day_digest <> recomputed.day_digest
   or days.previous_chain_hash <> recomputed.previous_chain_hash
   or days.line_count <> digests.line_count
union all
-- Lines on a day of the window the chain does not cover.
select lines.partition_date, null, null
from {{ ref('journal_lines') }} as lines
left join {{ ref('journal_day_hashes') }} as days
  on days.partition_date = lines.partition_date
where days.partition_date is null
  and lines.partition_date >= {{ partition_window_start() }}
group by lines.partition_date
