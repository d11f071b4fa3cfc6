{{ config(materialized='view') }}
{#
  Each lender's loan tape of a day, one row per (day, lender): the as-of date it states (the latest, should a day
  hold more than one), the loans on it and the files it came in (names, comma separated, in order).
#}
select
  partition_date,
  lender_id,
  max(as_of_date) as as_of_date,
  count(*) as loans,
  {{ distinct_listagg('source_file', "', '") }} as files
from {{ ref('stg_loan_tapes') }}
group by partition_date, lender_id
