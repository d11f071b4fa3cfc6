{{ config(materialized='view') }}
{#
  DCGM telemetry summarised per GPU per day as delivered, one row per (day, telemetry file, GPU UUID): minutes
  online, samples carrying an XID error, the last sample's time.
#}
select
  partition_date,
  gpu_uuid,
  gpu_serial,
  minutes_online,
  xid_error_samples,
  first_seen,
  last_seen,
  source_file
from {{ ref('stg_gpu_telemetry_daily') }}
