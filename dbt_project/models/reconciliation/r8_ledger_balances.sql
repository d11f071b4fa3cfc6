{#
  R8: every journal entry's debits equal its credits, every day's trial balance sums to zero, every journal line
  carries its lineage (source, source_key, rule_id). One row per day and assertion, and one per unbalanced entry.
#}
with window_lines as (
    select * from {{ ref('journal_lines') }}
),
days as (
    select distinct partition_date from {{ ref('trial_balance') }}
),
entries as (
    select partition_date, entry_id, sum(debit) - sum(credit) as imbalance
    from window_lines group by partition_date, entry_id
),
unbalanced as (select * from entries where imbalance != 0),
per_day as (
    select d.partition_date,
           (select count(*) from unbalanced u where u.partition_date = d.partition_date) as unbalanced_entries,
           (select coalesce(sum(closing_balance), 0) from {{ ref('trial_balance') }} t
             where t.partition_date = d.partition_date) as trial_balance_sum,
           (select count(*) from window_lines l where l.partition_date = d.partition_date
             and (l.source is null or l.source = '' or l.source_key is null or l.source_key = ''
                  or l.rule_id is null or l.rule_id = '')) as lines_without_lineage
    from days d
)
select partition_date as check_date, 'journal:entries' as entity_key, 'blocker' as severity,
       '0' as expected, cast(unbalanced_entries as varchar) as actual, cast(unbalanced_entries as varchar) as difference,
       '0' as tolerance, unbalanced_entries = 0 as within_tolerance,
       'journal entries whose debits and credits differ' as description, '' as cutoffs,
       'journal_lines@' || cast(partition_date as varchar) as lineage
from per_day
union all
select partition_date, 'trial_balance:sum', 'blocker', '0', cast(trial_balance_sum as varchar),
       cast(trial_balance_sum as varchar), '0', trial_balance_sum = 0,
       'sum of all closing balances of the day', '', 'trial_balance@' || cast(partition_date as varchar)
from per_day
union all
select partition_date, 'journal:lineage', 'blocker', '0', cast(lines_without_lineage as varchar),
       cast(lines_without_lineage as varchar), '0', lines_without_lineage = 0,
       'journal lines without source, source_key or rule_id', '', 'journal_lines@' || cast(partition_date as varchar)
from per_day
union all
select partition_date, 'entry:' || entry_id, 'blocker', '0', cast(imbalance as varchar), cast(imbalance as varchar),
       '0', false, 'unbalanced journal entry', '', 'journal_lines entry_id=' || entry_id
from unbalanced
