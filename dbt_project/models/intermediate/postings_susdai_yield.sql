{#
  The day's closing entries for sUSDai holders, who bear what the vault earns and loses:
  - rule susdai_yield: the day's income (credits less debits on 4000, 4010 and 4020 of the day's postings) less the
    protocol's admin fee accrues to them. A negative income day (a mark-down) swaps the sides. The rate is a short
    DECIMAL so the product stays exact before rounding back to 18 places.
  - rule susdai_credit_loss: the day's credit losses (debits less credits on 5000: allowance, liquidation
    shortfalls beyond it, insurance claims) are theirs, less the admin fee on the interest a sale wrote off (the
    fee was taken as that interest accrued and is only ever charged on interest paid). A release swaps the sides.
#}
with daily_income as (
  select partition_date, -sum(signed_amount) as income
  from {{ ref('postings_from_sources') }}
  where account_code in ('4000', '4010', '4020')
  group by partition_date
),

daily_credit_losses as (
  select partition_date, sum(signed_amount) as credit_losses
  from {{ ref('postings_from_sources') }}
  where account_code = '5000'
  group by partition_date
),

daily_interest_written_off as (
  select partition_date, sum(interest_written_off_usd) as interest_written_off
  from {{ ref('loan_liquidations') }}
  where {{ in_rebuild_window("partition_date") }}
  group by partition_date
),

losses_borne as (
  select
    coalesce(losses.partition_date, written_off.partition_date) as partition_date,
    {{ usd("coalesce(losses.credit_losses, 0)") }}
      - {{ usd("coalesce(written_off.interest_written_off, 0) * " ~ policy_rate('admin_fee_rate')) }} as amount
  from daily_credit_losses as losses
  full outer join daily_interest_written_off as written_off
    on written_off.partition_date = losses.partition_date
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

  union all

  select
    partition_date,
    {{ end_of_day("partition_date") }},
    'ledger',
    {{ dbt.concat(["'susdai_credit_loss:'", "cast(partition_date as " ~ dbt.type_string() ~ ")"]) }},
    'susdai_credit_loss',
    '2100',
    '',
    '5020',
    '',
    amount
  from losses_borne
)

{{ two_line_postings("entries") }}
