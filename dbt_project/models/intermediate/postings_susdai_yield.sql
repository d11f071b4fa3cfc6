{#
  Rule susdai_yield: the day's income (credits less debits on 4000, 4010 and 4020 of the day's postings) less the
  protocol's admin fee accrues to sUSDai holders. A negative income day (a mark-down) swaps the sides. The rate
  is a short DECIMAL so the product stays exact before rounding back to 18 places.
#}
with daily_income as (
  select partition_date, -sum(signed_amount) as income
  from {{ ref('postings_from_sources') }}
  where account_code in ('4000', '4010', '4020')
  group by partition_date
),

entries as (
  select
    partition_date,
    {{ end_of_day("partition_date") }} as effective_time,
    'ledger' as source,
    {{ dbt.concat(["'susdai_yield:'", "cast(partition_date as " ~ dbt.type_string() ~ ")"]) }} as source_key,
    'susdai_yield' as rule_id,
    '5010' as debit_account,
    '' as debit_sub_account,
    '2100' as credit_account,
    '' as credit_sub_account,
    income * (1 - {{ policy_rate('admin_fee_rate') }}) as amount
  from daily_income
)

{{ two_line_postings("entries") }}
