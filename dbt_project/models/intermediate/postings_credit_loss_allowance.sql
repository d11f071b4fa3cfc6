{#
  Rule credit_loss_allowance, over the rebuild window: on each of a loan's tape days, its allowance (1190,
  sub-account the loan) is trued up to what the policy requires (loan_credit_risk_daily) against credit loss
  expense (5000). The allowance stood at the previous tape day's requirement, less what a liquidation since then
  used of it (loan_liquidations, on any day), so the day posts
    required(d) - required(previous tape day) + used by liquidations after the previous tape day through d
  A fall releases allowance (the sides swap). The entry's lineage is the tape row the loan was assessed on.
#}
with window_assessments as (
  select *
  from {{ ref('loan_credit_risk_daily') }}
  where {{ in_rebuild_window("as_of_date") }}
),

-- Each loan's last assessment before the window: where its first true-up in the window starts from.
assessed_before as (
  select lender_id, loan_terms_hash, max(as_of_date) as as_of_date
  from {{ ref('loan_credit_risk_daily') }}
  where as_of_date < {{ partition_window_start() }}
    and loan_terms_hash in (select loan_terms_hash from window_assessments)
  group by lender_id, loan_terms_hash
),

previous_assessments as (
  select risk.lender_id, risk.loan_terms_hash, risk.as_of_date, risk.required_allowance
  from assessed_before
  inner join {{ ref('loan_credit_risk_daily') }} as risk
    on risk.lender_id = assessed_before.lender_id
    and risk.loan_terms_hash = assessed_before.loan_terms_hash
    and risk.as_of_date = assessed_before.as_of_date
),

sequenced as (
  select
    *,
    lag(required_allowance) over (partition by lender_id, loan_terms_hash order by as_of_date)
      as previous_required_allowance,
    lag(as_of_date) over (partition by lender_id, loan_terms_hash order by as_of_date) as previous_as_of_date
  from (
    select lender_id, loan_terms_hash, as_of_date, partition_date, source_sha256, source_row, required_allowance
    from window_assessments
    union all
    select lender_id, loan_terms_hash, as_of_date, null, null, null, required_allowance
    from previous_assessments
  ) as assessments
),

assessments as (
  select
    partition_date, as_of_date, lender_id, loan_terms_hash, source_sha256, source_row, required_allowance,
    coalesce(previous_required_allowance, 0) as previous_required_allowance, previous_as_of_date
  from sequenced
  where {{ in_rebuild_window("as_of_date") }}
),

liquidation_usage as (
  select loan_terms_hash, partition_date, sum(allowance_used_usd) as allowance_used
  from {{ ref('loan_liquidations') }}
  group by loan_terms_hash, partition_date
),

used_since_previous as (
  select
    assessments.lender_id,
    assessments.loan_terms_hash,
    assessments.as_of_date,
    sum(liquidation_usage.allowance_used) as allowance_used
  from assessments
  inner join liquidation_usage
    on liquidation_usage.loan_terms_hash = assessments.loan_terms_hash
    and liquidation_usage.partition_date <= assessments.as_of_date
    and (assessments.previous_as_of_date is null or liquidation_usage.partition_date > assessments.previous_as_of_date)
  group by assessments.lender_id, assessments.loan_terms_hash, assessments.as_of_date
),

entries as (
  select
    assessments.partition_date,
    {{ end_of_day("assessments.as_of_date") }} as effective_time,
    'loan_tape' as source,
    {{ file_source_key("assessments.source_sha256", "assessments.source_row") }} as source_key,
    'credit_loss_allowance' as rule_id,
    '5000' as debit_account,
    '' as debit_sub_account,
    '1190' as credit_account,
    assessments.loan_terms_hash as credit_sub_account,
    assessments.required_allowance - assessments.previous_required_allowance
      + coalesce(used.allowance_used, 0) as amount
  from assessments
  left join used_since_previous as used
    on used.lender_id = assessments.lender_id
    and used.loan_terms_hash = assessments.loan_terms_hash
    and used.as_of_date = assessments.as_of_date
)

{{ two_line_postings("entries") }}
