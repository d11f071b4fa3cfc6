{{ config(materialized='view') }}
{#
  Each entry reversed on a day, one row per (day, reversed entry): the source key and rule of the entry it reverses,
  why, and the reversal's debits in USD.
#}
select
  reversal.partition_date,
  reversal.reverses_entry_id,
  any_value(original.source_key) as source_key,
  any_value(original.rule_id) as rule_id,
  any_value(reversal.restatement_reason) as reason,
  sum(reversal.debit) as amount
from {{ ref('journal_lines') }} as reversal
left join {{ ref('journal_lines') }} as original
  on original.entry_id = reversal.reverses_entry_id
  and original.line_no = reversal.line_no
where reversal.rule_id = 'reversal'
group by reversal.partition_date, reversal.reverses_entry_id
