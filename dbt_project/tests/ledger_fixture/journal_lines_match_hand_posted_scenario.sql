{{ config(enabled=var('ledger_fixture', false) | as_bool, severity='warn') }}
-- The journal of the build window equals the hand-posted journal of tests/ledger_fixtures.py line for line, and
-- every entry is keyed sha256(source|source_key|rule_id). Rows: what is missing or unexpected, and why.
-- A warning, not an error: the build goes on, so tests/test_ledger_dbt.py still reads the marts and its own
-- assertions name what differs (test_every_build_posts_the_hand_posted_journal requires the PASS).
with expected as (
  select
    partition_date, effective_time, source, source_key, rule_id, line_no, account_code,
    coalesce(sub_account, '') as sub_account, debit, credit
  from {{ ref('expected_journal_lines') }}
  where {{ in_partition_window("partition_date") }}
),

actual as (
  select
    partition_date, effective_time, source, source_key, rule_id, line_no, account_code, sub_account, debit, credit
  from {{ ref('journal_lines') }}
  where {{ in_partition_window("partition_date") }}
)

select 'missing from journal_lines' as problem, * from (select * from expected except select * from actual) as missing
union all
select 'not posted by hand', * from (select * from actual except select * from expected) as unexpected
union all
select 'entry_id is not sha256(source|source_key|rule_id)', partition_date, effective_time, source, source_key,
       rule_id, line_no, account_code, sub_account, debit, credit
from {{ ref('journal_lines') }}
where {{ in_partition_window("partition_date") }}
  and entry_id <> {{ journal_entry_id("source", "source_key", "rule_id") }}
