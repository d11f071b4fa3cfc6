{#
  R11: the journal still holds every entry of every attested day as it was when the day was first attested (the
  record the attestation wrote outside the warehouse, macro attested_entries), and an entry posted on an attested
  day since then was caused by a change in the inputs. A day whose journal digest equals its record is unchanged;
  the entries of any other attested day are compared one by one:
    edited      an attested entry whose lines differ from the record (a line changed, added to it or removed);
    deleted     an attested entry no longer in the journal;
    unexplained an entry posted on the attested day since, while the day's inputs (input_day_hashes: every
                input file's sha256 and every block hash through the day) are those the day was attested on: a
                restatement without a cause in its sources is an integrity break, not a restatement.
  An entry posted since with changed inputs is a restatement, which the attestations report. A break is a
  blocker on the attested day and on every ledger day after it, whose ledger hash commits to it.
  A table, built with the ledger: the records are files listed when the model is built, and the attestation itself
  recomputes the ledger hash from the lines (journal_chain_recomputed) for an edit made after the build.
#}
{{ config(materialized='table', partition_by=none) }}
with attested_days as (
  select * from {{ attested_days() }}
),

attested_entries as (
  select * from {{ attested_entries() }}
),

-- Only the attested days' lines are read (and only the changed days' are digested by entry): through a join or
-- the journal_entry_digests view, DuckDB digests every line of the journal first (6-7 s at a year).
attested_lines as (
  select *
  from {{ ref('journal_lines') }}
  where partition_date in (select partition_date from attested_days)
),

current_days as (
  select
    attested_days.partition_date,
    {{ journal_lines_digest("lines", "lines.entry_id, lines.line_no") }} as day_digest
  from attested_days
  left join attested_lines as lines
    on lines.partition_date = attested_days.partition_date
  group by attested_days.partition_date
),

current_inputs as (
  select partition_date, inputs_chain_hash
  from {{ ref('input_day_hashes') }}
  where partition_date in (select partition_date from attested_days)
),

changed_days as (
  select
    attested.partition_date,
    current_inputs.inputs_chain_hash is not distinct from attested.inputs_chain_hash as inputs_unchanged
  from attested_days as attested
  left join current_days
    on current_days.partition_date = attested.partition_date
  left join current_inputs
    on current_inputs.partition_date = attested.partition_date
  where current_days.day_digest is distinct from attested.day_digest
),

changed_lines as (
  select * from attested_lines where partition_date in (select partition_date from changed_days)
),

current_entries as (
  {{ journal_entry_digests("changed_lines") }}
),

breaks as (
  select
    coalesce(attested.partition_date, now_.partition_date) as attested_date,
    coalesce(attested.entry_id, now_.entry_id) as entry_id,
    case
      when now_.entry_id is null then 'deleted'
      when attested.entry_id is null then 'unexplained'
      else 'edited'
    end as kind,
    attested.entry_digest as attested_digest,
    now_.entry_digest as current_digest,
    attested.line_count as attested_lines,
    now_.line_count as current_lines
  from (select * from attested_entries
        where partition_date in (select partition_date from changed_days)) as attested
  full outer join current_entries as now_
    on now_.partition_date = attested.partition_date
    and now_.entry_id = attested.entry_id
  left join changed_days
    on changed_days.partition_date = coalesce(attested.partition_date, now_.partition_date)
  where now_.entry_id is null
     or (attested.entry_id is not null and now_.entry_digest <> attested.entry_digest)
     or (attested.entry_id is null and changed_days.inputs_unchanged)
),

ledger_days as (
  select partition_date from {{ ref('journal_day_hashes') }}
),

attested_through as (
  select ledger_days.partition_date, count(attested_days.partition_date) as attested_days
  from ledger_days
  left join attested_days
    on attested_days.partition_date <= ledger_days.partition_date
  group by ledger_days.partition_date
),

per_day as (
  select
    ledger_days.partition_date,
    count(breaks.entry_id) as breaks,
    max(attested_through.attested_days) as attested_days
  from ledger_days
  inner join attested_through
    on attested_through.partition_date = ledger_days.partition_date
  left join breaks
    on breaks.attested_date <= ledger_days.partition_date
  group by ledger_days.partition_date
)

select
  partition_date as check_date, 'journal:attested_days' as entity_key, 'blocker' as severity,
  '0' as expected, cast(breaks as string) as actual, cast(breaks as string) as difference, '0' as tolerance,
  breaks = 0 as within_tolerance,
  'journal entries of the ' || cast(attested_days as string)
    || ' attested day(s) through this day that differ from what was attested' as description,
  '' as cutoffs, 'attestations/*/attested-entries.parquet' as lineage
from per_day
union all
select
  ledger_days.partition_date, 'entry:' || breaks.entry_id, 'blocker',
  coalesce(breaks.attested_digest, 'not attested'), coalesce(breaks.current_digest, 'missing'), breaks.kind, '0',
  false,
  case breaks.kind
    when 'edited' then 'journal entry of attested day ' || cast(breaks.attested_date as string)
      || ' changed since it was attested (' || cast(breaks.attested_lines as string) || ' line(s) attested, '
      || cast(breaks.current_lines as string) || ' now)'
    when 'deleted' then 'journal entry of attested day ' || cast(breaks.attested_date as string)
      || ' deleted since it was attested'
    else 'journal entry posted on attested day ' || cast(breaks.attested_date as string)
      || ' since it was attested, while the inputs through that day are unchanged: an integrity break, not a restatement'
  end,
  '', 'journal_lines entry_id=' || breaks.entry_id || ' partition_date=' || cast(breaks.attested_date as string)
from breaks
inner join ledger_days
  on ledger_days.partition_date >= breaks.attested_date
