{#
  H2: no source's daily volume (tape rows, GPUs reporting telemetry, statement rows) dropped by more than the
  limit from the previous day that has rows, looked for up to 7 days back, when that day had enough rows to judge.
#}
with volumes as (
    select partition_date, 'loan_tape_rows' as metric, count(*) as rows from {{ ref('loan_tape_rows') }}
    group by 1
    union all
    select partition_date, 'telemetry_gpus', count(distinct gpu_serial) from {{ ref('gpu_telemetry_by_day') }}
    group by 1
    union all
    select partition_date, 'statement_rows', count(*) from {{ ref('custodian_statement_lines') }}
    group by 1
),
with_previous as (
    select partition_date, metric, rows,
           lag(partition_date) over (partition by metric order by partition_date) as previous_date,
           lag(rows) over (partition by metric order by partition_date) as previous_rows
    from volumes
)
select partition_date as check_date, 'volume:' || metric as entity_key, 'warn' as severity,
       '>= ' || {{ as_text("1 - cast(" ~ reconciliation_setting('volume_drop_limit') ~ " as decimal(9, 6))") }} || ' x ' || cast(previous_rows as string) as expected,
       cast(rows as string) as actual, cast(rows - previous_rows as string) as difference,
       'drop <= ' || {{ reconciliation_setting('volume_drop_limit') }} as tolerance,
       rows >= (1 - cast({{ reconciliation_setting('volume_drop_limit') }} as decimal(9, 6))) * previous_rows as within_tolerance,
       'rows of the day vs the previous day' as description, '' as cutoffs,
       metric || '@' || cast(partition_date as string) as lineage
from with_previous
where previous_date >= partition_date - interval 7 day
  and previous_rows >= cast({{ reconciliation_setting('volume_min_previous_rows') }} as bigint)
