{#
  The loan router's events over the loan's whole history with their amounts in USD: in the loan's currency token
  (LoanRepaid and the liquidation events do not name it: it is the currency of the loan's origination), held by
  the router that emitted the event (`router_holding`, the 1020 sub-account).
#}
with router_history as (
  select *
  from {{ ref('stg_loan_router_events') }}
  where event in ('LoanOriginated', 'LoanRepaid', 'LoanCollateralLiquidated', 'LiquidationProceedsDeposited')
),

loan_currencies as (
  select loan_terms_hash, min(currency_token) as currency_token
  from router_history
  where event = 'LoanOriginated'
  group by loan_terms_hash
),

loan_events as (
  select
    router_history.*,
    router_history.contract_address as router_address,
    currency.currency_token as loan_currency_token,
    {{ token_holding("currency.currency_token", "router_history.contract_address") }} as router_holding,
    {{ raw_to_usd("router_history.principal", "token.usd_per_raw_unit") }} as principal_usd,
    {{ raw_to_usd("router_history.origination_fee", "token.usd_per_raw_unit") }} as origination_fee_usd,
    {{ raw_to_usd("router_history.interest", "token.usd_per_raw_unit") }} as interest_usd,
    {{ raw_to_usd("router_history.prepayment", "token.usd_per_raw_unit") }} as prepayment_usd,
    {{ raw_to_usd("router_history.exit_fee", "token.usd_per_raw_unit") }} as exit_fee_usd,
    {{ raw_to_usd("router_history.proceeds", "token.usd_per_raw_unit") }} as proceeds_usd
  from router_history
  left join loan_currencies as currency
    on currency.loan_terms_hash = router_history.loan_terms_hash
  left join {{ ref('address_roles_daily') }} as token
    on token.partition_date = router_history.partition_date
    and token.address_key = lower(currency.currency_token)
)

select * from loan_events
