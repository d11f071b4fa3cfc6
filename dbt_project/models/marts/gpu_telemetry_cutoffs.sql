{{ config(materialized='view') }}
{#
  GPU telemetry's cut-off of each day with telemetry, one row per day: the last sample of any GPU and how many GPUs
  reported (by UUID, or serial where a GPU has no UUID).
#}
select
  partition_date,
  max(last_seen) as last_sample,
  count(distinct coalesce(gpu_uuid, gpu_serial)) as gpus
from {{ ref('stg_gpu_telemetry_daily') }}
group by partition_date
