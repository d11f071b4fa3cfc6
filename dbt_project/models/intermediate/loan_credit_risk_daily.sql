{{ config(materialized='incremental', on_schema_change='fail') }}
{#
  The credit loss allowance each loan requires at the end of each of its tape days (policy in dbt vars,
  docs/ledger.md). Kept as a table over the rebuild window: the allowance's day-over-day true-up and the
  liquidations read the requirement of earlier days back from it instead of assessing all history again.
    exposure            = principal outstanding + accrued interest (the tape's; zero once repaid or liquidated)
    days_past_due_rate  = the rate of the highest `allowance_days_past_due_rates` floor reached; a loan in
                          `default` at least `allowance_default_rate`
    collateral_at_risk  = exposure x impaired GPUs / collateral GPUs, truncated to 18 places
    impairment          = collateral_at_risk x `allowance_impaired_collateral_loss_rate`
    insured_impairment  = impairment x the tape's insurance cover ratio, once the cover is claimable: its waiting
                          period (days from the loan's origination date) has run
    required_allowance  = min(exposure, exposure x days_past_due_rate + impairment - insured_impairment)
  Each product is rounded to 18 places, half away from zero. The row keeps the day's interest accrual and the
  tape's accrued balance too (rule interest_accrual posts from them): a liquidation writes off what accrued over
  the loan's life. Only loans originated on chain by the tape's day are assessed.
#}
with originations as (
  select lower(loan_terms_hash) as loan_terms_hash, min(partition_date) as originated_on
  from {{ ref('loan_router_events_usd') }}
  where event = 'LoanOriginated'
  group by lower(loan_terms_hash)
),

-- Only loans the vault funded on chain by the tape's day are its loans: a tape row for any other loan is R5's
-- orphan, and must neither accrue interest nor need an allowance in the vault's ledger. A tape that names a loan by
-- a later hash (after LoanMigrated or LoanRefinanced) is assessed as the loan it always was: its identity.
tapes as (
  select
    stg_loan_tapes.* except (loan_terms_hash),
    coalesce(identity.identity_hash, stg_loan_tapes.loan_terms_hash) as loan_terms_hash,
    stg_loan_tapes.loan_terms_hash as tape_loan_terms_hash
  from {{ ref('stg_loan_tapes') }}
  left join {{ ref('loan_identities') }} as identity
    on identity.loan_terms_hash = lower(stg_loan_tapes.loan_terms_hash)
  inner join originations
    on originations.loan_terms_hash = lower(coalesce(identity.identity_hash, stg_loan_tapes.loan_terms_hash))
    and originations.originated_on <= stg_loan_tapes.partition_date
  where {{ in_rebuild_window("stg_loan_tapes.partition_date") }}
),

assessed as (
  select
    tapes.partition_date,
    tapes.as_of_date,
    tapes.lender_id,
    tapes.loan_id,
    tapes.loan_terms_hash,
    tapes.status,
    tapes.days_past_due,
    tapes.daily_interest,
    tapes.accrued_interest,
    tapes.source_sha256,
    tapes.source_row,
    case
      when tapes.status in ('repaid', 'liquidated') then {{ usd(0) }}
      else {{ usd("tapes.principal_outstanding + tapes.accrued_interest") }}
    end as exposure,
    coalesce(health.collateral_gpus, 0) as collateral_gpus,
    coalesce(health.dark_gpus, 0) as dark_gpus,
    coalesce(health.erroring_gpus, 0) as erroring_gpus,
    coalesce(health.impaired_gpus, 0) as impaired_gpus,
    tapes.insurance_cover_ratio,
    tapes.insurance_waiting_period_days,
    coalesce(tapes.insurance_cover_ratio, 0) > 0
      and {{ dbt.datediff("tapes.origination_date", "tapes.as_of_date", "day") }}
        >= coalesce(tapes.insurance_waiting_period_days, 0) as insurance_claimable,
    case
      {%- for floor, rate in var('allowance_days_past_due_rates') | sort(reverse=true) %}
      when tapes.days_past_due >= {{ floor }} then cast('{{ rate }}' as decimal(9, 6))
      {%- endfor %}
      else cast(0 as decimal(9, 6))
    end as bucket_rate
  from tapes
  left join (
    select * from {{ ref('loan_collateral_health_daily') }} where {{ in_rebuild_window("partition_date") }}
  ) as health
    on health.partition_date = tapes.partition_date
    and health.lender_id = tapes.lender_id
    and health.loan_terms_hash = tapes.tape_loan_terms_hash
),

rated as (
  select
    assessed.*,
    case
      when status = 'default' and bucket_rate < {{ policy_rate('allowance_default_rate') }}
        then {{ policy_rate('allowance_default_rate') }}
      else bucket_rate
    end as days_past_due_rate,
    {{ usd("exposure * impaired_gpus") }} as exposure_times_impaired_gpus,
    {{ usd("collateral_gpus") }} as collateral_gpu_count
  from assessed
),

at_risk as (
  select
    rated.*,
    case
      when impaired_gpus = 0 then {{ usd(0) }}
      else {{ usd(exact_ratio("exposure_times_impaired_gpus", "collateral_gpu_count")) }}
    end as collateral_at_risk
  from rated
),

reserved as (
  select
    at_risk.*,
    {{ usd("exposure * days_past_due_rate") }} as days_past_due_reserve,
    {{ usd("collateral_at_risk * " ~ policy_rate('allowance_impaired_collateral_loss_rate')) }} as impairment
  from at_risk
),

insured as (
  select
    reserved.*,
    case
      when insurance_claimable then {{ usd("impairment * cast(insurance_cover_ratio as decimal(9, 6))") }}
      else {{ usd(0) }}
    end as insured_impairment
  from reserved
)

select
  partition_date,
  as_of_date,
  lender_id,
  loan_id,
  loan_terms_hash,
  status,
  days_past_due,
  daily_interest,
  accrued_interest,
  source_sha256,
  source_row,
  exposure,
  collateral_gpus,
  dark_gpus,
  erroring_gpus,
  impaired_gpus,
  insurance_cover_ratio,
  insurance_waiting_period_days,
  insurance_claimable,
  days_past_due_rate,
  days_past_due_reserve,
  collateral_at_risk,
  impairment,
  insured_impairment,
  {{ usd(
    "case when days_past_due_reserve + impairment - insured_impairment > exposure then exposure"
    ~ " else days_past_due_reserve + impairment - insured_impairment end"
  ) }} as required_allowance
from insured
-- in day order, like the journal: a filter on the day skips the other days' row groups
order by partition_date
