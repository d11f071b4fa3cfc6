{{ config(materialized='view') }}
{#
  Files dropped in the inbox that no source could take, from the receipts register (lake inbox_receipts): archived
  as rejected, with the problem found. One row per receipt.
#}
select
  partition_date,
  received_at,
  file_name,
  sha256,
  archive_path,
  problem,
  problem_detail
from {{ optional_lake_table('inbox_receipts', {
  'partition_date': 'date', 'received_at': 'timestamp', 'file_name': 'string', 'sha256': 'string',
  'status': 'string', 'archive_path': 'string', 'problem': 'string', 'problem_detail': 'string'}) }}
where status = 'rejected'
