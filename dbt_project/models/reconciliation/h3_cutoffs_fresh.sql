{#
  H3: each source's cut-off (the chain's state block time, the statement's cut-off, the last telemetry sample) is
  close to the end of its day.
#}
select partition_date as check_date, 'freshness:' || source as entity_key, 'warn' as severity,
       'within ' || {{ reconciliation_setting('max_cutoff_lag_minutes') }} || {{ text_literal(" min of the day's end") }} as expected,
       cast(cutoff_time as string) as actual,
       cast({{ minutes_between('cutoff_time', 'cast(partition_date as timestamp) + interval 1 day') }} as string) || ' min' as difference,
       'lag <= ' || {{ reconciliation_setting('max_cutoff_lag_minutes') }} || ' min' as tolerance,
       {{ minutes_between('cutoff_time', 'cast(partition_date as timestamp) + interval 1 day') }}
           <= cast({{ reconciliation_setting('max_cutoff_lag_minutes') }} as bigint) as within_tolerance,
       {{ text_literal("the source's own cut-off for the day") }} as description, cast(cutoff_time as string) as cutoffs,
       source || '@' || cast(partition_date as string) as lineage
from {{ ref('source_cutoffs') }}
where cutoff_time is not null
