{{ config(materialized='view') }}
{#
  Each T-bill the day's custodian statements hold, one row per (day, custodian, account, statement date, CUSIP):
  par, price and fair value as stated, beside the ledger's 1010 balance of the CUSIP at the close of the day (the
  latest ledger day through it).
#}
with holdings as (
  select * from {{ ref('custodian_tbill_holdings') }}
),

balance_days as (
  select days.partition_date, max(balances.partition_date) as balance_date
  from (select distinct partition_date from holdings) as days
  inner join (select distinct partition_date from {{ ref('reserve_balances') }}) as balances
    on balances.partition_date <= days.partition_date
  group by days.partition_date
)

select
  holdings.partition_date,
  holdings.custodian_id,
  holdings.account_id,
  holdings.statement_date,
  holdings.cusip,
  holdings.security_description,
  holdings.maturity_date,
  holdings.par_value,
  holdings.price,
  holdings.market_value,
  ledger.closing_balance as ledger_balance
from holdings
left join balance_days using (partition_date)
left join {{ ref('reserve_balances') }} as ledger
  on ledger.partition_date = balance_days.balance_date
  and ledger.account_code = '1010'
  and ledger.sub_account = holdings.cusip
