{{ config(materialized='view') }}
{#
  The consolidated balance sheet at each ledger day's close, one row per (day, line): assets, liabilities, equity,
  each by account, the income less expenses to date last in equity. `line_no` is the report's order.
#}
select
  partition_date,
  row_number() over (
    partition by partition_date
    order by case section when 'assets' then 0 when 'liabilities' then 1 else 2 end,
             coalesce(account_code, '') = '', coalesce(account_code, '')
  ) as line_no,
  section,
  coalesce(account_code, '') as account_code,
  line_item,
  amount
from {{ ref('balance_sheet') }}
