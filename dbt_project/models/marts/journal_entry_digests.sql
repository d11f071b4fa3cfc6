{{ config(materialized='view') }}
{#
  Every journal entry's digest: the sha256 of its lines' texts (macro journal_record_text) in line order, joined
  by `\n`. What an attestation records of its day's entries, and what R11 compares with that record.
#}
select
  lines.partition_date,
  lines.entry_id,
  count(*) as line_count,
  {{ journal_lines_digest("lines", "lines.line_no") }} as entry_digest
from {{ ref('journal_lines') }} as lines
group by lines.partition_date, lines.entry_id
