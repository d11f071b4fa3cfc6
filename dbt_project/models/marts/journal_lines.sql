{{ config(incremental_strategy='append', full_refresh=false) }}
{#
  The double-entry journal (docs/ledger.md), one row per line. Posted history is immutable: the table is only
  ever appended to, and `--full-refresh` leaves it alone (full_refresh: false).

  A build compares what the rules post from the sources now (ledger_postings) with the entries already posted
  over its rebuild window (`min_date` through the later of `max_date` and the last day posted):
  - an entry posted before and still posted the same is left alone, so re-running a day adds nothing;
  - a posted entry that the sources no longer produce (its file was replaced, its log left the chain) or now
    produce differently is reversed: a new entry of rule `reversal`, keyed by the entry it reverses, with the
    same lines on the other side, the same day and effective time, and the reason;
  - what the sources produce that is not posted yet is posted, as revision 0 of its (source, source_key,
    rule_id), or as the next revision when that key was posted before (with the entry it supersedes).
  The first build of an empty journal posts the window as it is.
#}
with computed_lines as (
  select *
  from {{ ref('ledger_postings') }}
  where {{ in_rebuild_window("partition_date") }}
)

{% if not is_incremental() %}

select
  {{ journal_entry_id("source", "source_key", "rule_id") }} as entry_id,
  line_no,
  account_code,
  sub_account,
  debit,
  credit,
  effective_time,
  partition_date,
  source,
  source_key,
  rule_id,
  cast(0 as integer) as revision,
  cast(null as {{ dbt.type_string() }}) as reverses_entry_id,
  cast(null as {{ dbt.type_string() }}) as supersedes_entry_id,
  cast(null as {{ dbt.type_string() }}) as restatement_reason
from computed_lines
-- Appended in day order: a table's row groups then each hold a few days, and a filter on the day (every reader of
-- the journal has one) skips the others instead of reading every line ever posted.
order by partition_date

{% else %}

, computed_entries as (
  select
    source,
    source_key,
    rule_id,
    {{ sha256_hex(dbt.listagg("line_text", "'\n'", "order by line_no")) }} as content_hash
  from (
    select
      *,
      {{ journal_line_text("line_no", "account_code", "sub_account", "debit", "credit", "effective_time",
                           "partition_date") }} as line_text
    from computed_lines
  ) as lines
  group by source, source_key, rule_id
),

posted_lines as (
  select *
  from {{ this }}
  where {{ in_rebuild_window("partition_date") }}
),

posted_entries as (
  select
    entry_id,
    source,
    source_key,
    rule_id,
    max(reverses_entry_id) as reverses_entry_id,
    {{ sha256_hex(dbt.listagg("line_text", "'\n'", "order by line_no")) }} as content_hash
  from (
    select
      *,
      {{ journal_line_text("line_no", "account_code", "sub_account", "debit", "credit", "effective_time",
                           "partition_date") }} as line_text
    from posted_lines
  ) as lines
  group by entry_id, source, source_key, rule_id
),

-- A reversal carries the day of the entry it reverses, so both are inside the same window.
reversed_entries as (
  select distinct reverses_entry_id as entry_id
  from posted_lines
  where reverses_entry_id is not null
),

live_entries as (
  select posted_entries.*
  from posted_entries
  left join reversed_entries
    on reversed_entries.entry_id = posted_entries.entry_id
  where posted_entries.reverses_entry_id is null
    and reversed_entries.entry_id is null
),

stale_entries as (
  select
    live.entry_id,
    live.source,
    live.source_key,
    live.rule_id,
    case when same_key.source is null then 'source_withdrawn' else 'source_changed' end as restatement_reason
  from live_entries as live
  left join computed_entries as same_content
    on same_content.source = live.source
    and same_content.source_key = live.source_key
    and same_content.rule_id = live.rule_id
    and same_content.content_hash = live.content_hash
  left join computed_entries as same_key
    on same_key.source = live.source
    and same_key.source_key = live.source_key
    and same_key.rule_id = live.rule_id
  where same_content.source is null
),

fresh_entries as (
  select computed.source, computed.source_key, computed.rule_id
  from computed_entries as computed
  left join live_entries as live
    on live.source = computed.source
    and live.source_key = computed.source_key
    and live.rule_id = computed.rule_id
    and live.content_hash = computed.content_hash
  where live.entry_id is null
),

-- Revisions already posted under the same key: the next revision's number. A key is posted on one day only: a
-- file's rows on the day its content names, a computed entry on its own day; a chain log moves day only when a
-- reorg carries its transaction across midnight (var `reorg_day_margin_days`, which the test
-- chain_logs_are_on_one_day holds). So the window's days and that margin before them hold every earlier
-- revision, and the lookup reads those days, not the whole journal (a new day's keys would otherwise be looked up
-- among all the lines ever posted).
prior_revisions as (
  select journal.source, journal.source_key, journal.rule_id, count(distinct journal.entry_id) as revisions
  from {{ this }} as journal
  inner join fresh_entries as fresh
    on fresh.source = journal.source
    and fresh.source_key = journal.source_key
    and fresh.rule_id = journal.rule_id
  where journal.reverses_entry_id is null
    and journal.partition_date >= {{ partition_window_start() }} - interval {{ var("reorg_day_margin_days") }} day
  group by journal.source, journal.source_key, journal.rule_id
),

superseded_entries as (
  select source, source_key, rule_id, min(entry_id) as entry_id
  from stale_entries
  group by source, source_key, rule_id
),

new_entries as (
  select
    fresh.source,
    fresh.source_key,
    fresh.rule_id,
    cast(coalesce(prior_revisions.revisions, 0) as integer) as revision,
    superseded_entries.entry_id as supersedes_entry_id
  from fresh_entries as fresh
  left join prior_revisions
    on prior_revisions.source = fresh.source
    and prior_revisions.source_key = fresh.source_key
    and prior_revisions.rule_id = fresh.rule_id
  left join superseded_entries
    on superseded_entries.source = fresh.source
    and superseded_entries.source_key = fresh.source_key
    and superseded_entries.rule_id = fresh.rule_id
)

select
  {{ journal_revision_entry_id("lines.source", "lines.source_key", "lines.rule_id", "new_entries.revision") }}
    as entry_id,
  lines.line_no,
  lines.account_code,
  lines.sub_account,
  lines.debit,
  lines.credit,
  lines.effective_time,
  lines.partition_date,
  lines.source,
  lines.source_key,
  lines.rule_id,
  new_entries.revision,
  cast(null as {{ dbt.type_string() }}) as reverses_entry_id,
  new_entries.supersedes_entry_id,
  cast(null as {{ dbt.type_string() }}) as restatement_reason
from computed_lines as lines
inner join new_entries
  on new_entries.source = lines.source
  and new_entries.source_key = lines.source_key
  and new_entries.rule_id = lines.rule_id

union all

select
  {{ journal_reversal_entry_id("posted.entry_id") }} as entry_id,
  posted.line_no,
  posted.account_code,
  posted.sub_account,
  posted.credit as debit,
  posted.debit as credit,
  posted.effective_time,
  posted.partition_date,
  'ledger' as source,
  posted.entry_id as source_key,
  'reversal' as rule_id,
  cast(0 as integer) as revision,
  posted.entry_id as reverses_entry_id,
  cast(null as {{ dbt.type_string() }}) as supersedes_entry_id,
  stale.restatement_reason
from posted_lines as posted
inner join stale_entries as stale
  on stale.entry_id = posted.entry_id

order by partition_date

{% endif %}
