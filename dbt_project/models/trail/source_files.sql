{{ config(materialized='view') }}
{#
  Every custodian statement and loan tape file the warehouse holds, one row per (file name, sha256): how the audit
  trail finds a file by the name it arrived under or by its hash.
#}
select distinct source_file, source_sha256
from (
  select source_file, source_sha256 from {{ ref('stg_custodian_statements') }}
  union all
  select source_file, source_sha256 from {{ ref('stg_loan_tapes') }}
) as files
