{#
  The sUSDai vault's NAV per ledger day, its growth split by where the yield came from, and the same growth
  read from the chain (USD unless named otherwise):
    nav_open, nav_close            ledger 2100 (the holders' claim) at the previous and this day's close
    net_flows                      stakes less redemptions serviced: the NAV change that is neither yield nor loss
    income_loan_interest, income_tbills, income_fees   the day's 4000, 4010 and 4020 (credits less debits)
    holder_yield                   the day's 5010: income net of the admin fee (rule susdai_yield)
    admin_fee                      income less holder_yield, what the protocol keeps
    credit_losses_borne            the day's credit losses the holders bear (5020 credits less debits, rule
                                   susdai_credit_loss; negative on a release or a recovery)
    unmarked_losses                the allowance less the insurance claims receivable at the close (1190, 1150):
                                   what the ledger has taken off the claim and the vault's totalAssets() has not
    yield_from_loan_interest, yield_from_tbills   each income x (1 - admin_fee_rate), rounded to 18 places;
    yield_from_fees                the rest of holder_yield, so the three add up to it exactly
    annualised_yield               holder_yield x 365 / nav_open, and the same per source
    onchain_total_assets, onchain_total_shares, onchain_share_price   totalAssets(), totalShares() (in shares)
                                   and their quotient at the day's state block
    onchain_annualised_yield       the share price's growth over the previous ledger day x 365
    nav_difference                 onchain_total_assets - nav_close (unmarked_losses when the two agree: R6)
  Quotients are exact, truncated to 18 places, null when the denominator is zero or missing.
  The previous day's NAV and share price carry forward from the mart's own last day before the window.
#}
with ledger_days as (
  {{ ledger_days() }}
),

accounts as (
  select
    partition_date,
    {{ usd("-sum(case when account_code = '2100' then closing_balance else 0 end)") }} as nav_close,
    {{ usd("sum(case when account_code = '2100' then period_credits - period_debits else 0 end)") }} as nav_change,
    {{ usd("sum(case when account_code = '4000' then period_credits - period_debits else 0 end)") }}
      as income_loan_interest,
    {{ usd("sum(case when account_code = '4010' then period_credits - period_debits else 0 end)") }} as income_tbills,
    {{ usd("sum(case when account_code = '4020' then period_credits - period_debits else 0 end)") }} as income_fees,
    {{ usd("sum(case when account_code = '5010' then period_debits - period_credits else 0 end)") }} as holder_yield,
    {{ usd("sum(case when account_code = '5020' then period_credits - period_debits else 0 end)") }}
      as credit_losses_borne,
    {{ usd("-sum(case when account_code in ('1190', '1150') then closing_balance else 0 end)") }} as unmarked_losses
  from {{ ref('trial_balance') }}
  where {{ in_rebuild_window("partition_date") }}
  group by partition_date
),

onchain as (
  select
    state.partition_date,
    {{ usd("max(case when state.method = 'totalAssets' then state.value end) * protocol.usdai_usd_per_raw_unit") }}
      as onchain_total_assets,
    {{ usd("max(case when state.method = 'totalShares' then state.value end) * protocol.susdai_units_per_raw_unit") }}
      as onchain_total_shares
  from {{ ref('stg_chain_state') }} as state
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = state.partition_date
  where state.contract_role = 'susdai'
    and state.method in ('totalAssets', 'totalShares')
    and state.field = 'value'
    and {{ in_rebuild_window("state.partition_date") }}
  group by state.partition_date, protocol.usdai_usd_per_raw_unit, protocol.susdai_units_per_raw_unit
),

opening as (
  {{ carried_forward({"nav_close": usd_type(), "onchain_share_price": usd_type()}) }}
),

days as (
  select
    ledger_days.partition_date,
    accounts.nav_close,
    accounts.nav_change,
    accounts.income_loan_interest,
    accounts.income_tbills,
    accounts.income_fees,
    accounts.holder_yield,
    accounts.credit_losses_borne,
    accounts.unmarked_losses,
    onchain.onchain_total_assets,
    onchain.onchain_total_shares,
    {{ usd(exact_ratio("onchain.onchain_total_assets", "onchain.onchain_total_shares")) }} as onchain_share_price
  from ledger_days
  left join accounts
    on accounts.partition_date = ledger_days.partition_date
  left join onchain
    on onchain.partition_date = ledger_days.partition_date
),

with_previous as (
  select
    days.*,
    coalesce(
      lag(nav_close) over (order by partition_date),
      (select nav_close from opening),
      {{ usd(0) }}
    ) as nav_open,
    coalesce(
      lag(onchain_share_price) over (order by partition_date),
      (select onchain_share_price from opening)
    ) as previous_share_price
  from days
),

split as (
  select
    with_previous.*,
    {{ usd("income_loan_interest + income_tbills + income_fees - holder_yield") }} as admin_fee,
    {{ usd("income_loan_interest * (1 - " ~ policy_rate('admin_fee_rate') ~ ")") }} as yield_from_loan_interest,
    {{ usd("income_tbills * (1 - " ~ policy_rate('admin_fee_rate') ~ ")") }} as yield_from_tbills,
    {{ usd("holder_yield * 365") }} as holder_yield_365,
    {{ usd("(onchain_share_price - previous_share_price) * 365") }} as share_price_growth_365
  from with_previous
),

annualising as (
  select
    split.*,
    {{ usd("holder_yield - yield_from_loan_interest - yield_from_tbills") }} as yield_from_fees,
    {{ usd("yield_from_loan_interest * 365") }} as loan_interest_365,
    {{ usd("yield_from_tbills * 365") }} as tbills_365,
    {{ usd("(holder_yield - yield_from_loan_interest - yield_from_tbills) * 365") }} as fees_365
  from split
)

select
  cast(partition_date as date) as partition_date,
  nav_open,
  nav_close,
  {{ usd("nav_change - holder_yield + credit_losses_borne") }} as net_flows,
  income_loan_interest,
  income_tbills,
  income_fees,
  holder_yield,
  admin_fee,
  yield_from_loan_interest,
  yield_from_tbills,
  yield_from_fees,
  credit_losses_borne,
  unmarked_losses,
  {{ usd(exact_ratio("holder_yield_365", "nav_open")) }} as annualised_yield,
  {{ usd(exact_ratio("loan_interest_365", "nav_open")) }} as annualised_yield_from_loan_interest,
  {{ usd(exact_ratio("tbills_365", "nav_open")) }} as annualised_yield_from_tbills,
  {{ usd(exact_ratio("fees_365", "nav_open")) }} as annualised_yield_from_fees,
  onchain_total_assets,
  onchain_total_shares,
  onchain_share_price,
  {{ usd(exact_ratio("share_price_growth_365", "previous_share_price")) }} as onchain_annualised_yield,
  {{ usd("onchain_total_assets - nav_close") }} as nav_difference
from annualising
