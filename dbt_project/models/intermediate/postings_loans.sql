{#
  The loan router's events: loan_originated, loan_repaid and loan_liquidated. Amounts are in the loan's currency
  token (LoanRepaid and the liquidation events do not name it: it is the currency of the loan's origination),
  held by the router that emitted the event.

  At liquidation the loan's outstanding principal and accrued interest come from its whole history, not from the
  day's window: principal originated minus principal (and prepayment) repaid before the liquidation log, and
  interest accrued from the tapes through the liquidation day minus interest repaid before it. The shortfall
  against the proceeds is a credit loss (5000); a surplus is income (4020).
#}
with router_events as (
  select
    events.partition_date,
    events.block_number,
    events.log_index,
    events.block_time,
    events.tx_hash,
    events.contract_address as router_address,
    events.event,
    events.loan_terms_hash,
    events.currency_token,
    events.principal,
    events.origination_fee,
    events.interest,
    events.prepayment,
    events.exit_fee,
    events.proceeds
  from {{ ref('stg_chain_events') }} as events
  where events.contract_role = 'loan_router'
    and events.event in (
      'LoanOriginated', 'LoanRepaid', 'LoanCollateralLiquidated', 'LiquidationProceedsDeposited'
    )
),

loan_currencies as (
  select loan_terms_hash, min(currency_token) as currency_token
  from router_events
  where event = 'LoanOriginated'
  group by loan_terms_hash
),

loan_events as (
  select
    router_events.*,
    currency.currency_token as loan_currency_token,
    {{ token_holding("currency.currency_token", "router_events.router_address") }} as router_holding,
    {{ raw_to_usd("router_events.principal", "token.usd_per_raw_unit") }} as principal_usd,
    {{ raw_to_usd("router_events.origination_fee", "token.usd_per_raw_unit") }} as origination_fee_usd,
    {{ raw_to_usd("router_events.interest", "token.usd_per_raw_unit") }} as interest_usd,
    {{ raw_to_usd("router_events.prepayment", "token.usd_per_raw_unit") }} as prepayment_usd,
    {{ raw_to_usd("router_events.exit_fee", "token.usd_per_raw_unit") }} as exit_fee_usd,
    {{ raw_to_usd("router_events.proceeds", "token.usd_per_raw_unit") }} as proceeds_usd
  from router_events
  left join loan_currencies as currency
    on currency.loan_terms_hash = router_events.loan_terms_hash
  left join {{ ref('address_roles_daily') }} as token
    on token.partition_date = router_events.partition_date
    and token.address_key = lower(currency.currency_token)
),

originations as (
  select * from loan_events where event = 'LoanOriginated'
),

repayments as (
  select * from loan_events where event = 'LoanRepaid'
),

liquidations as (
  select * from loan_events where event in ('LoanCollateralLiquidated', 'LiquidationProceedsDeposited')
),

interest_accrued as (
  select sub_account as loan_terms_hash, partition_date, sum(signed_amount) as accrued
  from {{ ref('postings_interest_accrual') }}
  where account_code = '1110'
  group by sub_account, partition_date
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

liquidation_results as (
  select
    *,
    outstanding_principal_usd + accrued_interest_usd - proceeds_usd as shortfall_usd
  from liquidated_positions
),

lines as (
  select partition_date, block_time, tx_hash, log_index, 'loan_originated' as rule_id,
         1 as line_no, '1100' as account_code, loan_terms_hash as sub_account, principal_usd as signed_amount
  from originations
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_originated',
         2, '1020', router_holding, -(principal_usd - origination_fee_usd)
  from originations
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_originated',
         3, '4020', '', -origination_fee_usd
  from originations

  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         1, '1020', router_holding, principal_usd + interest_usd + prepayment_usd + exit_fee_usd
  from repayments
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         2, '1100', loan_terms_hash, -(principal_usd + prepayment_usd)
  from repayments
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         3, '1110', loan_terms_hash, -interest_usd
  from repayments
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         4, '4020', '', -exit_fee_usd
  from repayments

  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         1, '1020', router_holding, proceeds_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         2, '5000', '', case when shortfall_usd > 0 then shortfall_usd else 0 end
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         3, '1100', loan_terms_hash, -outstanding_principal_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         4, '1110', loan_terms_hash, -accrued_interest_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         5, '4020', '', case when shortfall_usd < 0 then shortfall_usd else 0 end
  from liquidation_results
)

select
  partition_date,
  block_time as effective_time,
  'chain' as source,
  {{ chain_source_key("tx_hash", "log_index") }} as source_key,
  rule_id,
  line_no,
  account_code,
  sub_account,
  {{ usd("signed_amount") }} as signed_amount
from lines
