{{ config(materialized='view') }}
{#
  Every inbox file a source ingested, one row per (day, source, file name): its sha256, rows in, accepted and
  quarantined (with the reasons), and the columns it carried that the source's layout does not read.
#}
select
  partition_date,
  source,
  file_name,
  sha256,
  rows_in,
  rows_accepted,
  rows_quarantined,
  quarantine_reasons,
  unexpected_columns
from {{ ref('stg_input_files') }}
