{{ config(materialized='incremental', on_schema_change='fail') }}
{#
  The loan router's events with their amounts in USD: in the loan's currency token (LoanRepaid, the liquidation
  events and V2's FeePaid do not name it: it is the currency of the loan's origination). The cash leg's sub-account
  (`cash_sub_account`) is where the currency is: at an origination the router that emitted the event (it receives
  the pre-funding and pays all of it out, to the borrower and to its fee recipient); at a repayment or a collateral
  sale the sUSDai vault, the lender, to which the router forwards principal and interest at once (fees go to the
  router's fee recipient, outside the protocol); for a FeePaid the fee's recipient (rule loan_fee_received posts
  it when that is a protocol address). `loan_terms_hash` is the loan's identity (its first hash: loan_identities),
  so its position, interest and allowance keep one sub-account when LoanMigrated or LoanRefinanced renames it;
  `event_loan_terms_hash` is the hash the event names, whose currency its amounts are in (a renamed loan's from its
  new terms).
  A table kept day by day over the rebuild window, like the journal: a liquidation needs the loan's whole life and
  a repayment its loan's currency, and reading them here costs a scan of a small table where the lake would be
  opened at every day's file. A loan originated before the window takes its currency from the table's own earlier
  rows; the first build reads all history.
#}
with router_window as (
  select *
  from {{ ref('stg_loan_router_events') }}
  where event in ('LoanOriginated', 'LoanRepaid', 'LoanCollateralLiquidated', 'LiquidationProceedsDeposited',
                  'FeePaid')
    and {{ in_cumulative_window("partition_date") }}
),

loan_currencies as (
  select lower(loan_terms_hash) as loan_terms_hash, min(currency_token) as currency_token
  from (
    select loan_terms_hash, currency_token from router_window where event = 'LoanOriginated'
    {% if is_incremental() %}
    union all
    select event_loan_terms_hash, currency_token from {{ this }}
    where event = 'LoanOriginated' and partition_date < {{ cumulative_window_start() }}
    {% endif %}
    union all
    select loan_terms_hash, currency_token from {{ ref('loan_identities') }}
  ) as originations
  group by lower(loan_terms_hash)
),

loan_events as (
  select
    router_window.* except (loan_terms_hash),
    coalesce(identity.identity_hash, router_window.loan_terms_hash) as loan_terms_hash,
    router_window.loan_terms_hash as event_loan_terms_hash,
    router_window.contract_address as router_address,
    currency.currency_token as loan_currency_token,
    -- A loan in USDai (LoanRouterV2 lends any token) settles in the protocol's own token: its cash is USDai leaving
    -- or coming back into the protocol (2000), never a reserve (1020).
    case when lower(currency.currency_token) = lower(protocol.usdai_address) then '2000' else '1020' end
      as cash_account,
    case when lower(currency.currency_token) = lower(protocol.usdai_address) then ''
         when router_window.event = 'LoanOriginated'
           then {{ token_holding("currency.currency_token", "router_window.contract_address") }}
         when router_window.event = 'FeePaid'
           then {{ token_holding("currency.currency_token", "router_window.recipient") }}
         else {{ token_holding("currency.currency_token", "protocol.susdai_address") }} end
      as cash_sub_account,
    {{ raw_to_usd("router_window.principal", "token.usd_per_raw_unit") }} as principal_usd,
    {{ raw_to_usd("router_window.origination_fee", "token.usd_per_raw_unit") }} as origination_fee_usd,
    {{ raw_to_usd("router_window.interest", "token.usd_per_raw_unit") }} as interest_usd,
    {{ raw_to_usd("router_window.prepayment", "token.usd_per_raw_unit") }} as prepayment_usd,
    {{ raw_to_usd("router_window.exit_fee", "token.usd_per_raw_unit") }} as exit_fee_usd,
    -- What the lenders received of a collateral sale: V1's LoanCollateralLiquidated gives it (net of the router's
    -- fee and surplus); V2's LiquidationProceedsDeposited gives the sale's gross proceeds, its fee and its surplus.
    {{ raw_to_usd("router_window.proceeds", "token.usd_per_raw_unit") }}
      - case when router_window.event = 'LiquidationProceedsDeposited'
             then {{ raw_to_usd("coalesce(router_window.fee, 0) + coalesce(router_window.surplus, 0)",
                                "token.usd_per_raw_unit") }}
             else {{ usd(0) }} end as proceeds_usd,
    -- V2's FeePaid: the fee the router paid `recipient` (fee_kind 0 origination, 1 repayment, 2 exit, 3 liquidation)
    {{ raw_to_usd("router_window.amount", "token.usd_per_raw_unit") }} as fee_usd
  from router_window
  left join loan_currencies as currency
    on currency.loan_terms_hash = lower(router_window.loan_terms_hash)
  left join {{ ref('loan_identities') }} as identity
    on identity.loan_terms_hash = lower(router_window.loan_terms_hash)
  left join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = router_window.partition_date
  left join (
    select * from {{ ref('address_roles_daily') }}
    where {{ in_cumulative_window("partition_date") }}
  ) as token
    on token.partition_date = router_window.partition_date
    and token.address_key = lower(currency.currency_token)
)

-- partition_date first on every engine (Spark lists a table's partition column last)
select partition_date, * except (partition_date) from loan_events
