{{ config(materialized='view') }}
{#
  Each custodian account's statement of a day, one row per (day, custodian, account, statement date): the latest
  cut-off time its rows state and the files it came in (names, comma separated, in order).
#}
select
  partition_date,
  custodian_id,
  account_id,
  statement_date,
  max(cut_off_time) as cut_off_time,
  {{ distinct_listagg('source_file', "', '") }} as files
from {{ ref('stg_custodian_statements') }}
group by partition_date, custodian_id, account_id, statement_date
