{#
  H5: no ingested file had rows quarantined and no inbox file was rejected: each one is an exception someone must
  chase. One row per ingested file, and one per rejected file.
#}
select partition_date as check_date, 'quarantine:' || source || ':' || file_name as entity_key,
       'warn' as severity, '0 rows quarantined' as expected,
       cast(rows_quarantined as string) || ' of ' || cast(rows_in as string) || ' rows quarantined' as actual,
       quarantine_reasons as difference, 'none' as tolerance, rows_quarantined = 0 as within_tolerance,
       'rows of the file held back (quarantine/' || source || {{ text_literal("); the file's good rows went through") }} as description,
       '' as cutoffs, 'input_files ' || file_name || ' sha256 ' || sha256 as lineage
from {{ ref('ingested_files') }}
union all
select partition_date, 'rejected_file:' || file_name || ':' || sha256, 'warn', 'routed to a source',
       'rejected', coalesce(problem, '') || ': ' || coalesce(problem_detail, ''), 'none', false,
       'a file in the inbox no source could take: archived as rejected', '',
       'inbox_receipts ' || coalesce(archive_path, file_name)
from {{ ref('inbox_rejected_files') }}
