{#
  T-bills at the custodian, from its statements: tbill_purchase (cost) and tbill_maturity (par) move cash and
  T-bills; tbill_accretion marks each CUSIP to the statement's market value:
    MV(d) - MV(previous statement) - cost bought(d) + par matured(d)
  per custodian account and CUSIP, posted with lineage `<statement sha256>:<CUSIP>` (a matured CUSIP has no
  holding row to point at). A custodian's `cash_receipt` is not posted: the on-chain transfer already was.
  Statements are read over all history (a mark needs the previous one); the entries are the rebuild window's.
#}
with statement_rows as (
  select * from {{ ref('stg_custodian_statements') }}
),

statements as (
  select
    custodian_id,
    account_id,
    statement_date,
    min(partition_date) as partition_date,
    max(cut_off_time) as cut_off_time,
    min(source_sha256) as source_sha256
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
    sum(case when record_type = 'holding' then market_value else 0 end) as market_value,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_purchase' then amount else 0 end) as cost_bought,
    sum(case when record_type = 'transaction' and transaction_type = 'tbill_maturity' then amount else 0 end) as par_matured
  from statement_rows
  where cusip is not null
    and (record_type = 'holding' or transaction_type in ('tbill_purchase', 'tbill_maturity'))
  group by custodian_id, account_id, statement_date, cusip
),

-- Every CUSIP a statement must mark: held now, held at the previous statement, bought or matured today.
cusips_to_mark as (
  select
    statement_sequence.custodian_id,
    statement_sequence.account_id,
    statement_sequence.statement_date,
    statement_sequence.previous_statement_date,
    cusip_flows.cusip
  from statement_sequence
  inner join cusip_flows
    on cusip_flows.custodian_id = statement_sequence.custodian_id
    and cusip_flows.account_id = statement_sequence.account_id
    and cusip_flows.statement_date = statement_sequence.statement_date
  union
  select
    statement_sequence.custodian_id,
    statement_sequence.account_id,
    statement_sequence.statement_date,
    statement_sequence.previous_statement_date,
    cusip_flows.cusip
  from statement_sequence
  inner join cusip_flows
    on cusip_flows.custodian_id = statement_sequence.custodian_id
    and cusip_flows.account_id = statement_sequence.account_id
    and cusip_flows.statement_date = statement_sequence.previous_statement_date
  where cusip_flows.market_value <> 0
),

accretion as (
  select
    statement_sequence.partition_date,
    statement_sequence.cut_off_time,
    statement_sequence.source_sha256,
    cusips_to_mark.cusip,
    coalesce(today.market_value, 0)
      - coalesce(previous.market_value, 0)
      - coalesce(today.cost_bought, 0)
      + coalesce(today.par_matured, 0) as amount
  from cusips_to_mark
  inner join statement_sequence
    on statement_sequence.custodian_id = cusips_to_mark.custodian_id
    and statement_sequence.account_id = cusips_to_mark.account_id
    and statement_sequence.statement_date = cusips_to_mark.statement_date
  left join cusip_flows as today
    on today.custodian_id = cusips_to_mark.custodian_id
    and today.account_id = cusips_to_mark.account_id
    and today.statement_date = cusips_to_mark.statement_date
    and today.cusip = cusips_to_mark.cusip
  left join cusip_flows as previous
    on previous.custodian_id = cusips_to_mark.custodian_id
    and previous.account_id = cusips_to_mark.account_id
    and previous.statement_date = cusips_to_mark.previous_statement_date
    and previous.cusip = cusips_to_mark.cusip
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
