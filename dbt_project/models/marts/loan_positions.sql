{#
  Every loan on every ledger day from the day it first appears (a journal line on its sub-account or a tape
  row): its amortised cost in the ledger and what the lender, the telemetry and the chain say of it.
    principal, accrued_interest   ledger 1100 and 1110 of the loan (debit balances)
    allowance                     ledger 1190 of the loan, as a positive amount (the contra-asset's credit)
    carrying_amount               principal + accrued interest - allowance
    tape_*, status, days_past_due the day's tape row (null when the tape did not report the loan that day)
    required_allowance, collateral and insurance columns: the allowance policy's assessment of the day
    collateral_health             share of the collateral GPUs neither dark nor erroring (null without a
                                  collateral schedule), truncated to 18 places
    onchain_status, onchain_principal  loanState(loanTermsHash) at the day's state block: status code and
                                  scaledBalance as USD, read under the loan's current name on its router
  A renamed loan (LoanMigrated, LoanRefinanced) is one row under its first hash (loan_identities).
  Balances carry forward from the mart's own last day before the rebuild window.
#}
with ledger_days as (
  {{ ledger_days() }}
),

movements as (
  select
    partition_date,
    sub_account as loan_terms_hash,
    sum(case when account_code = '1100' then debit - credit else 0 end) as principal,
    sum(case when account_code = '1110' then debit - credit else 0 end) as accrued_interest,
    sum(case when account_code = '1190' then credit - debit else 0 end) as allowance
  from {{ ref('journal_lines') }}
  where account_code in ('1100', '1110', '1190')
    and {{ in_rebuild_window("partition_date") }}
  group by partition_date, sub_account
),

opening as (
  {{ carried_forward({
    "loan_terms_hash": dbt.type_string(), "principal": usd_type(), "accrued_interest": usd_type(),
    "allowance": usd_type()
  }) }}
),

assessments as (
  select *
  from {{ ref('loan_credit_risk_daily') }}
  where {{ in_rebuild_window("partition_date") }}
),

-- A loan renamed (LoanMigrated, LoanRefinanced) is one loan under its first hash: its tape rows and its state on
-- the router that now holds it are read under that identity.
tapes as (
  select tape.partition_date, tape.lender_id, tape.loan_id, tape.borrower_id,
         coalesce(identity.identity_hash, tape.loan_terms_hash) as loan_terms_hash, tape.principal_outstanding,
         tape.accrued_interest
  from {{ ref('stg_loan_tapes') }} as tape
  left join {{ ref('loan_identities') }} as identity
    on identity.loan_terms_hash = lower(tape.loan_terms_hash)
  -- a tape's day is its as-of date (ingestion rejects any other): filtered on the day, one day's files are read
  where {{ in_rebuild_window("tape.partition_date") }}
),

first_days as (
  select loan_terms_hash, min(partition_date) as first_day
  from (
    select loan_terms_hash, {{ partition_window_start() }} as partition_date from opening
    union all
    select loan_terms_hash, partition_date from movements
    union all
    select loan_terms_hash, as_of_date from assessments
  ) as appearances
  group by loan_terms_hash
),

loan_states as (
  select
    state.partition_date,
    coalesce(identity.identity_hash, state.key) as loan_terms_hash,
    cast(max(case when state.field = 'status' then state.value end) as integer) as onchain_status,
    {{ usd("max(case when state.field = 'scaledBalance' then state.value end) * cast('1e-18' as " ~ usd_type() ~ ")") }}
      as onchain_principal
  from {{ ref('stg_chain_state') }} as state
  left join {{ ref('loan_identities') }} as identity
    on identity.loan_terms_hash = lower(state.key)
  where state.contract_role = 'loan_router'
    and state.method = 'loanState'
    and {{ in_rebuild_window("state.partition_date") }}
    -- the name a loan was renamed from is the old router's record (V1: Migrated), no longer the loan's state
    and not exists (
      select 1 from {{ ref('loan_identities') }} as renamed
      where renamed.renamed_from = lower(state.key) and renamed.partition_date <= state.partition_date
    )
  group by state.partition_date, coalesce(identity.identity_hash, state.key)
),

grid as (
  select ledger_days.partition_date, first_days.loan_terms_hash
  from first_days
  inner join ledger_days
    on ledger_days.partition_date >= first_days.first_day
),

balances as (
  select
    grid.partition_date,
    grid.loan_terms_hash,
    {% for column in ["principal", "accrued_interest", "allowance"] %}
    {{ usd(
      "coalesce(opening." ~ column ~ ", 0) + sum(coalesce(movements." ~ column ~ ", 0)) over ("
      ~ " partition by grid.loan_terms_hash order by grid.partition_date"
      ~ " rows between unbounded preceding and current row)"
    ) }} as {{ column }}{{ "," if not loop.last }}
    {% endfor %}
  from grid
  left join movements
    on movements.partition_date = grid.partition_date
    and movements.loan_terms_hash = grid.loan_terms_hash
  left join opening
    on opening.loan_terms_hash = grid.loan_terms_hash
),

health as (
  select
    assessments.*,
    {{ usd("collateral_gpus - impaired_gpus") }} as healthy_gpu_count,
    {{ usd("collateral_gpus") }} as collateral_gpu_count
  from assessments
)

select
  cast(balances.partition_date as date) as partition_date,
  cast(balances.loan_terms_hash as {{ dbt.type_string() }}) as loan_terms_hash,
  tapes.lender_id,
  tapes.loan_id,
  tapes.borrower_id,
  health.status,
  health.days_past_due,
  balances.principal,
  balances.accrued_interest,
  balances.allowance,
  {{ usd("balances.principal + balances.accrued_interest - balances.allowance") }} as carrying_amount,
  {{ usd("tapes.principal_outstanding") }} as tape_principal_outstanding,
  {{ usd("tapes.accrued_interest") }} as tape_accrued_interest,
  health.exposure,
  health.required_allowance,
  health.collateral_gpus,
  health.dark_gpus,
  health.erroring_gpus,
  case
    when health.collateral_gpus > 0 then {{ usd(exact_ratio("health.healthy_gpu_count", "health.collateral_gpu_count")) }}
  end as collateral_health,
  health.insurance_cover_ratio,
  health.insurance_waiting_period_days,
  health.insurance_claimable,
  loan_states.onchain_status,
  loan_states.onchain_principal
from balances
left join health
  on health.as_of_date = balances.partition_date
  and health.loan_terms_hash = balances.loan_terms_hash
left join tapes
  on tapes.partition_date = balances.partition_date
  and tapes.loan_terms_hash = balances.loan_terms_hash
left join loan_states
  on loan_states.partition_date = balances.partition_date
  and loan_states.loan_terms_hash = balances.loan_terms_hash
-- in day order, like the journal: a filter on the day skips the other days' row groups
order by balances.partition_date
