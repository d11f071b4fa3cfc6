{#
  Every liquidation (router LoanCollateralLiquidated, or v2 LiquidationProceedsDeposited) with what it settles.
  The loan's outstanding principal and accrued interest come from its whole history: principal originated minus
  principal (and prepayment) repaid before the liquidation log, and interest accrued from the tapes (what rule
  interest_accrual posts) through the liquidation day minus interest repaid before the log. The shortfall against
  the proceeds is charged to the loan's allowance first, as far as the allowance required at the loan's last tape
  day before the liquidation's day covers it (allowance_used_usd); the rest is credit loss expense, a negative
  shortfall a surplus. What the proceeds leave unpaid of the accrued interest is written off (the admin fee on it is
  never charged: rule susdai_credit_loss). The loan's credit insurance (its last tape row before the sale) pays its
  cover ratio of the principal lost, at most the shortfall, once its waiting period from origination has run
  (insurance_claim_usd on insurance_claim_date: rule insurance_recovery). Liquidations are few: all history is kept,
  for the allowance's true-ups too.
#}
with loan_events as (
  select * from {{ ref('loan_router_events_usd') }}
),

originations as (
  select * from loan_events where event = 'LoanOriginated'
),

repayments as (
  select * from loan_events where event = 'LoanRepaid'
),

liquidations as (
  select * from loan_events
  where event in ('LoanCollateralLiquidated', 'LiquidationProceedsDeposited')
),

-- What rule interest_accrual posted to 1110 of each liquidated loan, day by day.
interest_accrued as (
  select loan_terms_hash, as_of_date as partition_date, sum(daily_interest) as accrued
  from {{ ref('loan_credit_risk_daily') }}
  where daily_interest > 0
    and loan_terms_hash in (select loan_terms_hash from liquidations)
  group by loan_terms_hash, as_of_date
),

liquidated_positions as (
  select
    liquidations.*,
    coalesce((
      select sum(originations.principal_usd)
      from originations
      where originations.loan_terms_hash = liquidations.loan_terms_hash
        and (originations.block_number < liquidations.block_number
          or (originations.block_number = liquidations.block_number and originations.log_index < liquidations.log_index))
    ), 0)
    - coalesce((
      select sum(repayments.principal_usd + repayments.prepayment_usd)
      from repayments
      where repayments.loan_terms_hash = liquidations.loan_terms_hash
        and (repayments.block_number < liquidations.block_number
          or (repayments.block_number = liquidations.block_number and repayments.log_index < liquidations.log_index))
    ), 0) as outstanding_principal_usd,
    coalesce((
      select sum(interest_accrued.accrued)
      from interest_accrued
      where interest_accrued.loan_terms_hash = liquidations.loan_terms_hash
        and interest_accrued.partition_date <= liquidations.partition_date
    ), 0)
    - coalesce((
      select sum(repayments.interest_usd)
      from repayments
      where repayments.loan_terms_hash = liquidations.loan_terms_hash
        and (repayments.block_number < liquidations.block_number
          or (repayments.block_number = liquidations.block_number and repayments.log_index < liquidations.log_index))
    ), 0) as accrued_interest_usd
  from liquidations
),

last_assessments as (
  select
    liquidations.tx_hash,
    liquidations.log_index,
    max(risk.as_of_date) as as_of_date
  from liquidations
  inner join {{ ref('loan_credit_risk_daily') }} as risk
    on risk.loan_terms_hash = liquidations.loan_terms_hash
    and risk.as_of_date < liquidations.partition_date
  group by liquidations.tx_hash, liquidations.log_index
),

allowances_before as (
  select
    last_assessments.tx_hash,
    last_assessments.log_index,
    sum(risk.required_allowance) as allowance
  from last_assessments
  inner join liquidations
    on liquidations.tx_hash = last_assessments.tx_hash
    and liquidations.log_index = last_assessments.log_index
  inner join {{ ref('loan_credit_risk_daily') }} as risk
    on risk.loan_terms_hash = liquidations.loan_terms_hash
    and risk.as_of_date = last_assessments.as_of_date
  group by last_assessments.tx_hash, last_assessments.log_index
),

shortfalls as (
  select
    liquidated_positions.*,
    outstanding_principal_usd + accrued_interest_usd - proceeds_usd as shortfall_usd,
    coalesce(allowances_before.allowance, 0) as allowance_before_usd
  from liquidated_positions
  left join allowances_before
    on allowances_before.tx_hash = liquidated_positions.tx_hash
    and allowances_before.log_index = liquidated_positions.log_index
),

-- The loan's credit insurance as its last tape row before the sale's day states it.
covers as (
  select tx_hash, log_index, insurance_cover_ratio, insurance_waiting_period_days, origination_date
  from (
    select
      liquidations.tx_hash,
      liquidations.log_index,
      tapes.insurance_cover_ratio,
      tapes.insurance_waiting_period_days,
      tapes.origination_date,
      row_number() over (
        partition by liquidations.tx_hash, liquidations.log_index
        order by tapes.as_of_date desc, tapes.partition_date desc
      ) as latest
    from liquidations
    inner join {{ ref('stg_loan_tapes') }} as tapes
      on lower(tapes.loan_terms_hash) = lower(liquidations.loan_terms_hash)
      and tapes.as_of_date < liquidations.partition_date
  ) as ranked
  where latest = 1
),

liquidation_results as (
  select
    shortfalls.*,
    case
      when shortfall_usd <= 0 then 0
      when shortfall_usd < allowance_before_usd then shortfall_usd
      else allowance_before_usd
    end as allowance_used_usd,
    -- The proceeds repay principal first: what they leave unpaid of the accrued interest is written off.
    case
      when shortfall_usd <= 0 then {{ usd(0) }}
      when shortfall_usd < accrued_interest_usd then shortfall_usd
      else accrued_interest_usd
    end as interest_written_off_usd,
    case
      when proceeds_usd >= outstanding_principal_usd then {{ usd(0) }}
      else {{ usd("outstanding_principal_usd - proceeds_usd") }}
    end as principal_lost_usd,
    covers.insurance_cover_ratio,
    covers.insurance_waiting_period_days,
    covers.origination_date
  from shortfalls
  left join covers
    on covers.tx_hash = shortfalls.tx_hash
    and covers.log_index = shortfalls.log_index
),

-- The claim on the cover: its ratio of the principal lost, at most the shortfall, recognised on the later of the
-- sale's day and the day the policy's waiting period (from the loan's origination) has run.
covered as (
  select
    *,
    {{ usd("principal_lost_usd * cast(coalesce(insurance_cover_ratio, 0) as decimal(9, 6))") }} as covered_loss_usd
  from liquidation_results
),

claims as (
  select
    *,
    case
      when covered_loss_usd = 0 or shortfall_usd <= 0 then {{ usd(0) }}
      when {{ usd("shortfall_usd") }} < covered_loss_usd then {{ usd("shortfall_usd") }}
      else covered_loss_usd
    end as insurance_claim_usd,
    case
      when coalesce(insurance_cover_ratio, 0) = 0 or shortfall_usd <= 0 then null
      else greatest(
        partition_date,
        cast({{ dbt.dateadd('day', 'coalesce(insurance_waiting_period_days, 0)', 'origination_date') }} as date)
      )
    end as insurance_claim_date
  from covered
)

-- partition_date first on every engine (Spark lists a table's partition column last)
select partition_date, * except (partition_date) from claims
