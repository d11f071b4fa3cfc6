-- Every line says where it came from: a source, the key inside it and the rule that posted it.
select *
from {{ ref('journal_lines') }}
where partition_date >= {{ partition_window_start() }}
  and (source is null or source = ''
   or source_key is null or source_key = ''
   or rule_id is null or rule_id = '')
