{#
  R3: the custodian statement's closing cash equals ledger 1000 and its T-bill holdings by CUSIP (market value)
  equal ledger 1010, on each statement day.
#}
with {{ statement_cutoff_cte() }},
statements as (
    select * from {{ ref('custodian_statement_lines') }}
),
statement_days as (select distinct statement_date as partition_date from statements),
cash as (
    select statement_date as partition_date, sum(amount) as statement_usd
    from statements where record_type = 'closing_cash' group by statement_date
),
holdings as (
    select statement_date as partition_date, cusip, sum(market_value) as statement_usd
    from statements where record_type = 'holding' group by statement_date, cusip
),
-- A statement day's ledger balances are those of the last ledger day through it (reserve_balances holds every
-- sub-account on every ledger day).
ledger_days as (
    select distinct partition_date from {{ ref('reserve_balances') }}
),
as_of as (
    select d.partition_date, max(l.partition_date) as ledger_day
    from statement_days d join ledger_days l on l.partition_date <= d.partition_date
    group by d.partition_date
),
ledger_accounts as (
    select a.partition_date, b.account_code, b.sub_account, b.closing_balance
    from as_of a join {{ ref('reserve_balances') }} b
      on b.partition_date = a.ledger_day and b.account_code in ('1000', '1010')
),
ledger_cash as (
    select partition_date, sum(closing_balance) as ledger_usd
    from ledger_accounts where account_code = '1000' group by partition_date
),
ledger_bills as (
    select partition_date, sub_account as cusip, sum(closing_balance) as ledger_usd
    from ledger_accounts where account_code = '1010' group by partition_date, sub_account
),
comparisons as (
    select d.partition_date, 'custodian:cash' as entity_key, coalesce(c.statement_usd, 0) as expected,
           coalesce(l.ledger_usd, 0) as actual, 'statement closing cash vs ledger 1000' as what
    from statement_days d left join cash c using (partition_date) left join ledger_cash l using (partition_date)
    union all
    select coalesce(h.partition_date, l.partition_date), 'cusip:' || coalesce(h.cusip, l.cusip),
           coalesce(h.statement_usd, 0), coalesce(l.ledger_usd, 0),
           'statement market value vs ledger 1010 ' || coalesce(h.cusip, l.cusip)
    from holdings h full outer join (select * from ledger_bills where ledger_usd != 0) l
      on h.partition_date = l.partition_date and h.cusip = l.cusip
)
select c.partition_date as check_date, entity_key, 'blocker' as severity,
       {{ as_text("expected") }} as expected, {{ as_text("actual") }} as actual,
       {{ as_text("expected - actual") }} as difference,
       'abs ' || {{ reconciliation_setting('custodian_abs_tolerance') }} || ', rel ' || {{ reconciliation_setting('custodian_rel_tolerance') }} as tolerance,
       {{ within("expected - actual", "expected", "custodian_abs_tolerance", "custodian_rel_tolerance") }} as within_tolerance,
       what as description, k.cutoff as cutoffs, 'custodian_statements@' || cast(c.partition_date as string) as lineage
from comparisons c left join statement_cutoff k using (partition_date)
