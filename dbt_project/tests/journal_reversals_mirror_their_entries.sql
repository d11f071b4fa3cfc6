-- A reversal has exactly the lines of the entry it reverses, on the other side, on the same day and effective
-- time; it reverses an entry that exists and is not itself a reversal, and names the reason.
with reversals as (
  select * from {{ ref('journal_lines') }}
  where rule_id = 'reversal' and partition_date >= {{ partition_window_start() }}
),

reversed as (
  select * from {{ ref('journal_lines') }}
  where partition_date >= {{ partition_window_start() }}
    and entry_id in (select reverses_entry_id from reversals)
),

mirrored as (
  select
    reverses_entry_id as entry_id, line_no, account_code, sub_account, credit as debit, debit as credit,
    effective_time, partition_date
  from reversals
),

originals as (
  select entry_id, line_no, account_code, sub_account, debit, credit, effective_time, partition_date
  from reversed
)

select 'reversal line with no such line in the reversed entry' as problem, entry_id, line_no
from (select * from mirrored except select * from originals) as unmatched
union all
select 'line of a reversed entry missing from its reversal', entry_id, line_no
from (select * from originals except select * from mirrored) as unreversed
union all
select 'reversal of a reversal', entry_id, line_no
from reversed
where rule_id = 'reversal'
union all
select 'reversal without a reason or its source key', entry_id, line_no
from reversals
where restatement_reason is null or reverses_entry_id is null or source_key <> reverses_entry_id
