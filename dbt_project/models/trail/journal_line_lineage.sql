{{ config(materialized='view') }}
{#
  Every journal line with the source row it was posted from, joined by the line's `source_key` (docs/ledger.md):
  `tx_hash:log_index` names a decoded chain log, `sha256:row` a loan tape or custodian statement row, `sha256:CUSIP`
  the statement's holding of that CUSIP (a T-bill mark); `rule:date` keys entries the ledger computes from other
  lines, which have no source row. The audit trail (`backed trail`) filters this model.

  The running balances follow the journal's order (day, effective time, entry, line): `account_balance_after` over
  the account, `sub_account_balance_after` over the sub-account. A filter that keeps an account's lines through a
  day keeps their running balances as they are here. Borrower names come with tape rows: whoever reads this model
  masks them unless personal data is asked for.
#}
with lines as (
  select journal.*, accounts.account_name
  from {{ ref('journal_lines') }} as journal
  left join {{ ref('chart_of_accounts') }} as accounts using (account_code)
),

file_rows as (
  select
    source_sha256,
    cast(source_row as string) as row_key,
    source_file,
    source_row,
    'loan ' || coalesce(loan_id, '') || ' ' || coalesce(status, '') || ' principal '
      || coalesce({{ exact_text('principal_outstanding') }}, '') as record,
    borrower_id,
    borrower_name
  from {{ ref('stg_loan_tapes') }}
  union all
  select
    source_sha256,
    cast(source_row as string),
    source_file,
    source_row,
    record_type || coalesce(' ' || transaction_type, '') || coalesce(' ' || cusip, '')
      || coalesce(' amount ' || {{ exact_text('amount') }}, '')
      || coalesce(' market value ' || {{ exact_text('market_value') }}, ''),
    null,
    null
  from {{ ref('stg_custodian_statements') }}
  union all
  select
    source_sha256,
    cusip,
    source_file,
    source_row,
    'holding ' || cusip || ' market value ' || {{ exact_text('market_value') }},
    null,
    null
  from {{ ref('stg_custodian_statements') }}
  where record_type = 'holding'
)

select
  lines.partition_date,
  lines.effective_time,
  lines.entry_id,
  lines.line_no,
  lines.account_code,
  lines.account_name,
  lines.sub_account,
  lines.debit,
  lines.credit,
  sum(lines.debit - lines.credit) over (
    partition by lines.account_code
    order by lines.partition_date, lines.effective_time, lines.entry_id, lines.line_no
    rows between unbounded preceding and current row
  ) as account_balance_after,
  sum(lines.debit - lines.credit) over (
    partition by lines.account_code, lines.sub_account
    order by lines.partition_date, lines.effective_time, lines.entry_id, lines.line_no
    rows between unbounded preceding and current row
  ) as sub_account_balance_after,
  lines.rule_id,
  lines.source,
  lines.source_key,
  events.block_number,
  events.block_time,
  events.tx_hash,
  events.log_index,
  events.contract_role,
  events.event,
  file_rows.source_file as file_name,
  file_rows.source_sha256 as file_sha256,
  file_rows.source_row as file_row,
  file_rows.record,
  file_rows.borrower_id,
  file_rows.borrower_name
from lines
left join {{ ref('stg_chain_events') }} as events
  on lines.source = 'chain' and lines.source_key = events.tx_hash || ':' || cast(events.log_index as string)
left join file_rows
  on lines.source in ('loan_tape', 'custodian')
  and file_rows.source_sha256 = split_part(lines.source_key, ':', 1)
  and file_rows.row_key = split_part(lines.source_key, ':', 2)
