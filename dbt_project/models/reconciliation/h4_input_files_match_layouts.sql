{#
  H4: no ingested file carries columns its source's layout does not read (schema drift: that data is not
  ingested). One row per day, source and file.
#}
select partition_date as check_date, 'schema:' || source || ':' || file_name as entity_key, 'warn' as severity,
       {{ text_literal("only the layout's columns") }} as expected, unexpected_columns as actual,
       'unexpected columns: ' || unexpected_columns as difference, 'none' as tolerance,
       unexpected_columns = '' as within_tolerance,
       'headers no column of the ' || source || ' layout reads: their data is not ingested' as description,
       '' as cutoffs, 'input_files ' || file_name || ' sha256 ' || sha256 as lineage
from {{ ref('ingested_files') }}
