{{ config(materialized='view') }}
{# USDai by redeemability at each day's state block, in the order the report lists the classes. #}
select
  partition_date,
  row_number() over (
    partition by partition_date
    order by
      case redeemability
        when 'redeemable' then 1
        when 'temporarily non-redeemable' then 2
        when 'permanently non-redeemable' then 3
        when 'held by the protocol' then 4
        else 5
      end,
      component,
      holder
  ) as line_no,
  redeemability,
  component,
  holder,
  amount_usd
from {{ ref('usdai_redeemability') }}
