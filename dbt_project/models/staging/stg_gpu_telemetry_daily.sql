{#
  GPU telemetry, one row per (day, GPU).
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(gpu_uuid as string) as gpu_uuid,
    cast(gpu_serial as string) as gpu_serial,
    cast(hostname as string) as hostname,
    cast(model_name as string) as model_name,
    cast(samples as bigint) as samples,
    cast(scrape_interval_s as bigint) as scrape_interval_s,
    cast(minutes_online as double) as minutes_online,
    cast(util_mean as double) as util_mean,
    cast(util_p95 as double) as util_p95,
    cast(temp_max as double) as temp_max,
    cast(power_mean as double) as power_mean,
    cast(xid_error_samples as bigint) as xid_error_samples,
    cast(first_seen as timestamp) as first_seen,
    cast(last_seen as timestamp) as last_seen,
    cast(source_file as string) as source_file,
    cast(source_sha256 as string) as source_sha256
  from {{ lake_table('gpu_telemetry_daily') }}
  where {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'gpu_uuid'], 'samples desc, source_file desc, source_sha256 desc') }}
