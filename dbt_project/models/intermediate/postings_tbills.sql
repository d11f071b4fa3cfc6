{#
  T-bills at the custodian, from its statements: tbill_purchase (cost) and tbill_maturity (par) move cash and
  T-bills; tbill_accretion marks each CUSIP's position to the statement's price:
    value(d)     = round_half_even(par position(d) x price(d) / 100, cents)
    accretion(d) = value(d) - value(previous statement) - cost bought(d) + par matured(d)
  per custodian account and CUSIP, posted with lineage `<holdings statement sha256>:<CUSIP>`, the statement that
  priced it (a matured CUSIP has no holding row to point at). The position is the par the custodian's own transactions bought and matured, not
  the par its holdings report: a holding that comes up short is a break for R3 to raise, never a loss booked as
  a mark. A CUSIP missing from a statement keeps its last price. A custodian's `cash_receipt` is not posted: the
  on-chain transfer already was.
  Statements are read over all history (a mark needs the previous one), from custodian_statement_rows, a table
  kept day by day; the entries are the rebuild window's.
#}
with statement_rows as (
  select * from {{ ref('custodian_statement_rows') }}
),

statements as (
  select
    custodian_id,
    account_id,
    statement_date,
    min(partition_date) as partition_date,
    max(cut_off_time) as cut_off_time,
    -- a mark is the holdings statement's (the file whose prices it takes), not whichever of the day's files sorts
    -- first; a day with a cash statement only marks at the last prices, under the cash statement
    coalesce(min(source_sha256) filter (where record_type = 'holding'), min(source_sha256)) as source_sha256
  from statement_rows
  group by custodian_id, account_id, statement_date
),

statement_sequence as (
  select
    statements.*,
    lag(statement_date) over (
      partition by custodian_id, account_id order by statement_date
    ) as previous_statement_date
  from statements
),

cusip_flows as (
  select
    custodian_id,
    account_id,
    statement_date,
    cusip,
    max(case when record_type = 'holding' then price end) as price,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_purchase' then amount else 0 end) as cost_bought,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_purchase' then par_value else 0 end) as par_bought,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_maturity' then amount else 0 end) as par_matured,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_maturity' then par_value else 0 end) as par_retired
  from statement_rows
  where cusip is not null
    and (record_type = 'holding' or transaction_type in ('tbill_purchase', 'tbill_maturity'))
  group by custodian_id, account_id, statement_date, cusip
),

-- Every CUSIP at every statement of its account from the first that mentions it: a CUSIP missing from a
-- statement is still marked (at its last price), so a holding that vanishes cannot vanish from the ledger.
cusip_grid as (
  select
    statement_sequence.custodian_id,
    statement_sequence.account_id,
    statement_sequence.statement_date,
    statement_sequence.partition_date,
    statement_sequence.cut_off_time,
    statement_sequence.source_sha256,
    first_mentions.cusip
  from statement_sequence
  inner join (
    select custodian_id, account_id, cusip, min(statement_date) as first_statement_date
    from cusip_flows
    group by custodian_id, account_id, cusip
  ) as first_mentions
    on first_mentions.custodian_id = statement_sequence.custodian_id
    and first_mentions.account_id = statement_sequence.account_id
    and first_mentions.first_statement_date <= statement_sequence.statement_date
),

cusip_positions as (
  select
    cusip_grid.*,
    cusip_flows.cusip is not null as is_mentioned,
    coalesce(cusip_flows.cost_bought, 0) as cost_bought,
    coalesce(cusip_flows.par_matured, 0) as par_matured,
    sum(coalesce(cusip_flows.par_bought, 0) - coalesce(cusip_flows.par_retired, 0)) over cusip_history as par_position,
    {{ last_value_ignoring_nulls("cusip_flows.price") }} over cusip_history as price
  from cusip_grid
  left join cusip_flows
    on cusip_flows.custodian_id = cusip_grid.custodian_id
    and cusip_flows.account_id = cusip_grid.account_id
    and cusip_flows.statement_date = cusip_grid.statement_date
    and cusip_flows.cusip = cusip_grid.cusip
  window cusip_history as (
    partition by cusip_grid.custodian_id, cusip_grid.account_id, cusip_grid.cusip order by cusip_grid.statement_date
    rows between unbounded preceding and current row
  )
),

cusip_values as (
  select
    cusip_positions.*,
    -- par in cents and prices to 8 places keep the exact product inside DECIMAL(38); / 100 as a decimal product
    {{ usd(round_half_even("cast(par_position as decimal(20, 2)) * cast(coalesce(price, 0) as decimal(18, 8))"
                           " * cast('0.01' as decimal(3, 2))", 2)) }} as position_value
  from cusip_positions
),

-- Marked: a CUSIP mentioned by the statement, or valued at the previous one.
accretion as (
  select
    partition_date,
    cut_off_time,
    source_sha256,
    cusip,
    is_mentioned,
    previous_value,
    position_value - coalesce(previous_value, 0) - cost_bought + par_matured as amount
  from (
    select
      cusip_values.*,
      lag(position_value) over (
        partition by custodian_id, account_id, cusip order by statement_date
      ) as previous_value
    from cusip_values
  )
  where is_mentioned or coalesce(previous_value, 0) <> 0
),

entries as (
  select
    partition_date,
    cut_off_time as effective_time,
    'custodian' as source,
    {{ file_source_key("source_sha256", "source_row") }} as source_key,
    transaction_type as rule_id,
    case transaction_type when 'tbill_purchase' then '1010' else '1000' end as debit_account,
    case transaction_type when 'tbill_purchase' then cusip else '' end as debit_sub_account,
    case transaction_type when 'tbill_purchase' then '1000' else '1010' end as credit_account,
    case transaction_type when 'tbill_purchase' then '' else cusip end as credit_sub_account,
    amount
  from statement_rows
  where record_type = 'transaction'
    and transaction_type in ('tbill_purchase', 'tbill_maturity')

  union all

  select
    partition_date,
    cut_off_time,
    'custodian',
    {{ dbt.concat(["source_sha256", "':'", "cusip"]) }},
    'tbill_accretion',
    '1010', cusip,
    '4010', '',
    amount
  from accretion
),

window_entries as (
  select * from entries where {{ in_rebuild_window("partition_date") }}
)

{{ two_line_postings("window_entries") }}
