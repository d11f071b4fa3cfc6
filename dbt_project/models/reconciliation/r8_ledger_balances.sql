{#
  R8: every journal entry's debits equal its credits, every day's trial balance sums to zero, every journal line
  carries its lineage (source, source_key, rule_id). One row per day and assertion, and one per unbalanced entry.
#}
-- Each figure is grouped by day and joined on it, so that a check's filter on the day reaches the journal's
-- scan: as one subquery per day, DuckDB summed every entry of the journal before filtering (0.9 s at a year).
with days as (
    select distinct partition_date from {{ ref('trial_balance') }}
),
entries as (
    select partition_date, entry_id, sum(debit) - sum(credit) as imbalance
    from {{ ref('journal_lines') }} group by partition_date, entry_id
),
unbalanced as (select * from entries where imbalance != 0),
unbalanced_per_day as (
    select partition_date, count(*) as unbalanced_entries from unbalanced group by partition_date
),
trial_balance_per_day as (
    select partition_date, sum(closing_balance) as trial_balance_sum
    from {{ ref('trial_balance') }} group by partition_date
),
lineage_per_day as (
    select partition_date,
           count(*) filter (where source is null or source = '' or source_key is null or source_key = ''
                            or rule_id is null or rule_id = '') as lines_without_lineage
    from {{ ref('journal_lines') }} group by partition_date
),
per_day as (
    select d.partition_date,
           coalesce(u.unbalanced_entries, 0) as unbalanced_entries,
           coalesce(t.trial_balance_sum, 0) as trial_balance_sum,
           coalesce(l.lines_without_lineage, 0) as lines_without_lineage
    from days d
    left join unbalanced_per_day u on u.partition_date = d.partition_date
    left join trial_balance_per_day t on t.partition_date = d.partition_date
    left join lineage_per_day l on l.partition_date = d.partition_date
)
select partition_date as check_date, 'journal:entries' as entity_key, 'blocker' as severity,
       '0' as expected, cast(unbalanced_entries as string) as actual, cast(unbalanced_entries as string) as difference,
       '0' as tolerance, unbalanced_entries = 0 as within_tolerance,
       'journal entries whose debits and credits differ' as description, '' as cutoffs,
       'journal_lines@' || cast(partition_date as string) as lineage
from per_day
union all
select partition_date, 'trial_balance:sum', 'blocker', '0', {{ as_text("trial_balance_sum") }},
       {{ as_text("trial_balance_sum") }}, '0', trial_balance_sum = 0,
       'sum of all closing balances of the day', '', 'trial_balance@' || cast(partition_date as string)
from per_day
union all
select partition_date, 'journal:lineage', 'blocker', '0', cast(lines_without_lineage as string),
       cast(lines_without_lineage as string), '0', lines_without_lineage = 0,
       'journal lines without source, source_key or rule_id', '', 'journal_lines@' || cast(partition_date as string)
from per_day
union all
select partition_date, 'entry:' || entry_id, 'blocker', '0', {{ as_text("imbalance") }}, {{ as_text("imbalance") }},
       '0', false, 'unbalanced journal entry', '', 'journal_lines entry_id=' || entry_id
from unbalanced
