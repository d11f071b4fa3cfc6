{#
  The double-entry journal (docs/ledger.md): every posting of the window's days, one row per line, keyed by
  entry_id = sha256(source|source_key|rule_id) and line_no. Re-running a day deletes and rebuilds exactly that
  day (incremental strategy partition_window). A posting whose amount could not be computed is kept with a null
  amount so that the not_null tests fail rather than the line vanishing.
#}
with postings as (
  select * from {{ ref('postings_from_sources') }}
  where {{ in_partition_window("partition_date") }}
  union all
  select * from {{ ref('postings_susdai_yield') }}
  where {{ in_partition_window("partition_date") }}
)

select
  {{ journal_entry_id("source", "source_key", "rule_id") }} as entry_id,
  cast(row_number() over (partition by source, source_key, rule_id order by line_no) as integer) as line_no,
  cast(account_code as {{ dbt.type_string() }}) as account_code,
  cast(sub_account as {{ dbt.type_string() }}) as sub_account,
  {{ usd("case when signed_amount > 0 then signed_amount when signed_amount < 0 then 0 end") }} as debit,
  {{ usd("case when signed_amount < 0 then -signed_amount when signed_amount > 0 then 0 end") }} as credit,
  cast(effective_time as {{ dbt.type_timestamp() }}) as effective_time,
  cast(partition_date as date) as partition_date,
  cast(source as {{ dbt.type_string() }}) as source,
  cast(source_key as {{ dbt.type_string() }}) as source_key,
  cast(rule_id as {{ dbt.type_string() }}) as rule_id
from postings
where signed_amount is null or signed_amount <> 0
