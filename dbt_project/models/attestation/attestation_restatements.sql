{{ config(materialized='view') }}
{#
  What the ledger restated on each day, one row per (day, kind, reason, source): reversals of lines posted before
  and the revised entries that replace them, with how many entries and lines and their debits in USD. A restatement
  never edits a posted line: it adds lines.
#}
select
  partition_date,
  case when rule_id = 'reversal' then 'reversal' else 'revision' end as kind,
  coalesce(restatement_reason, 'corrected entry') as reason,
  source,
  count(distinct entry_id) as entries,
  count(*) as lines,
  sum(debit) as amount
from {{ ref('journal_lines') }}
where rule_id = 'reversal' or revision > 0
group by all
