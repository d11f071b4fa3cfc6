{{ config(materialized='incremental', on_schema_change='fail') }}
{#
  The custodian's statement rows (stg_custodian_statements) kept in a table day by day over the rebuild window:
  the T-bill rules mark each CUSIP against its position since the first purchase and its previous statement, so
  they read every statement; here that is a scan of a small table, where the lake would be opened at every day's
  file. The first build reads all history.
#}
-- partition_date first on every engine (Spark lists a table's partition column last)
select partition_date, * except (partition_date)
from {{ ref('stg_custodian_statements') }}
where {{ in_cumulative_window("partition_date") }}
