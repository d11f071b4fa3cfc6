{#
  What the ledger's rules post from the sources as they stand now, in the journal's shape: every posting of
  every family and the computed entries, one row per non-zero line, numbered 1.. within its entry, amounts split
  into debit and credit. journal_lines compares this with what it has already posted. All lines of an entry
  share its day, so the numbering is partitioned by day too and a filter on the day reaches the sources.
  A posting whose amount could not be computed is kept with null amounts so that the not_null tests fail rather
  than the line vanishing.
#}
with postings as (
  select * from {{ ref('postings_from_sources') }}
  union all
  select * from {{ ref('postings_susdai_yield') }}
)

select
  cast(partition_date as date) as partition_date,
  cast(source as {{ dbt.type_string() }}) as source,
  cast(source_key as {{ dbt.type_string() }}) as source_key,
  cast(rule_id as {{ dbt.type_string() }}) as rule_id,
  cast(row_number() over (
    partition by partition_date, source, source_key, rule_id order by line_no
  ) as integer) as line_no,
  cast(account_code as {{ dbt.type_string() }}) as account_code,
  cast(sub_account as {{ dbt.type_string() }}) as sub_account,
  {{ usd("case when signed_amount > 0 then signed_amount when signed_amount < 0 then 0 end") }} as debit,
  {{ usd("case when signed_amount < 0 then -signed_amount when signed_amount > 0 then 0 end") }} as credit,
  cast(effective_time as {{ dbt.type_timestamp() }}) as effective_time
from postings
where signed_amount is null or signed_amount <> 0
