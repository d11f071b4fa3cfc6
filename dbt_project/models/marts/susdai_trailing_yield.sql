{{ config(materialized='view') }}
{#
  The yield an sUSDai holder sees over the last 1, 7 and 30 days, read from the on-chain share price, beside the
  ledger's account of it. A single day swings with one-off fees; the 7- and 30-day figures are the ones to quote.
    share_price_yield    (price at the day's close / price window_days earlier - 1) x 365 / window_days: what a
                         holder of one share over the window earned, annualised without compounding
    ledger_yield         the sum over the window of each day's (holder_yield - credit_losses_borne) / (nav_close -
                         that), x 365 / window_days: the holders' return as the ledger accounts for it. The base is
                         the opening NAV plus the day's stakes and redemptions
    share_price_yield_by_day   the same sum of daily share price growths on chain
    explained_share_price_yield   the same sum of each day's (holder_yield - credit_losses_borne + the change in
                         unmarked_losses) / (totalAssets() - that): the share price growth the ledger explains. The
                         vault marks a loss at the sale, not as the allowance is built, and a recovery when the pool
                         pays: the change in unmarked losses is that timing. What is left is the value moved within
                         the day between stakes and redemptions and the day's income (the vault values itself
                         continuously, the ledger at the close)
    yield_from_*         the parts of ledger_yield (loan interest, T-bills, fees, each net of the admin fee, and the
                         credit losses borne, negative)
    income_*, admin_fee  the window's income by source and what the protocol kept of it, in USD
  A window is reported only when the ledger has every one of its days.
#}
with days as (
  select
    partition_date,
    onchain_share_price,
    holder_yield,
    income_loan_interest,
    income_tbills,
    income_fees,
    admin_fee,
    yield_from_loan_interest,
    yield_from_tbills,
    yield_from_fees,
    credit_losses_borne,
    onchain_total_assets,
    {{ usd("holder_yield - credit_losses_borne") }} as holder_net_return,
    {{ usd("nav_close - holder_yield + credit_losses_borne") }} as return_base,
    {{ usd("unmarked_losses - lag(unmarked_losses) over (order by partition_date)") }} as unmarked_losses_change,
    lag(onchain_share_price) over (order by partition_date) as previous_share_price
  from {{ ref('susdai_yield') }}
),

daily_returns as (
  select
    days.*,
    {{ exact_ratio("holder_net_return", "return_base") }} as ledger_return,
    {{ exact_ratio("yield_from_loan_interest", "return_base") }} as loan_interest_return,
    {{ exact_ratio("yield_from_tbills", "return_base") }} as tbills_return,
    {{ exact_ratio("yield_from_fees", "return_base") }} as fees_return,
    {{ exact_ratio("-credit_losses_borne", "return_base") }} as credit_losses_return,
    {{ exact_ratio("holder_net_return + unmarked_losses_change",
                   "onchain_total_assets - holder_net_return - unmarked_losses_change") }} as explained_return,
    {{ exact_ratio("onchain_share_price - previous_share_price", "previous_share_price") }} as share_price_return
  from days
),

windows as (
  select window_days from (values (1), (7), (30)) as w(window_days)
),

window_sums as (
  select
    closing.partition_date,
    windows.window_days,
    count(*) as days_in_window,
    min(day.partition_date) as first_day,
    {{ usd("sum(day.income_loan_interest)") }} as income_loan_interest,
    {{ usd("sum(day.income_tbills)") }} as income_tbills,
    {{ usd("sum(day.income_fees)") }} as income_fees,
    {{ usd("sum(day.admin_fee)") }} as admin_fee,
    {{ usd("sum(day.holder_yield)") }} as holder_yield,
    {{ usd("sum(day.ledger_return)") }} as ledger_return,
    {{ usd("sum(day.loan_interest_return)") }} as loan_interest_return,
    {{ usd("sum(day.tbills_return)") }} as tbills_return,
    {{ usd("sum(day.fees_return)") }} as fees_return,
    {{ usd("sum(day.credit_losses_return)") }} as credit_losses_return,
    {{ usd("sum(day.credit_losses_borne)") }} as credit_losses_borne,
    {{ usd("sum(day.explained_return)") }} as explained_return,
    count(day.explained_return) as days_with_explained_return,
    {{ usd("sum(day.share_price_return)") }} as share_price_return,
    count(day.share_price_return) as days_with_share_price_return
  from daily_returns as closing
  cross join windows
  inner join daily_returns as day
    on day.partition_date > closing.partition_date - windows.window_days
    and day.partition_date <= closing.partition_date
  group by closing.partition_date, windows.window_days
),

complete_windows as (
  select
    window_sums.*,
    closing.onchain_share_price as closing_share_price,
    opening.previous_share_price as opening_share_price
  from window_sums
  inner join daily_returns as closing
    on closing.partition_date = window_sums.partition_date
  inner join daily_returns as opening
    on opening.partition_date = window_sums.first_day
  where window_sums.days_in_window = window_sums.window_days
)

select
  cast(partition_date as date) as partition_date,
  cast(window_days as integer) as window_days,
  opening_share_price,
  closing_share_price,
  {{ exact_ratio("(closing_share_price - opening_share_price) * 365", "opening_share_price * window_days") }}
    as share_price_yield,
  {{ exact_ratio("ledger_return * 365", "window_days") }} as ledger_yield,
  case when days_with_share_price_return = window_days
    then {{ exact_ratio("share_price_return * 365", "window_days") }} end as share_price_yield_by_day,
  case when days_with_explained_return = window_days
    then {{ exact_ratio("explained_return * 365", "window_days") }} end as explained_share_price_yield,
  {{ exact_ratio("loan_interest_return * 365", "window_days") }} as yield_from_loan_interest,
  {{ exact_ratio("tbills_return * 365", "window_days") }} as yield_from_tbills,
  {{ exact_ratio("fees_return * 365", "window_days") }} as yield_from_fees,
  {{ exact_ratio("credit_losses_return * 365", "window_days") }} as yield_from_credit_losses,
  income_loan_interest,
  income_tbills,
  income_fees,
  admin_fee,
  holder_yield,
  credit_losses_borne
from complete_windows
