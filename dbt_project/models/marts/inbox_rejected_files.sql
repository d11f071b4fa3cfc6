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
  'partition_date': 'date', 'received_at': 'timestamp', 'file_name': 'varchar', 'sha256': 'varchar',
  'status': 'varchar', 'archive_path': 'varchar', 'problem': 'varchar', 'problem_detail': 'varchar'}) }}
where status = 'rejected'
