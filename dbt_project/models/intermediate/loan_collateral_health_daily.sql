{#
  Per loan per tape day: the GPUs of its collateral schedule and how they fared in the day's DCGM telemetry.
  A GPU is dark when it reported fewer than `allowance_dark_below_minutes_online` minutes that day, or nothing;
  erroring when `allowance_erroring_from_xid_error_samples` or more of its scrapes carried an XID error;
  impaired when either. A serial seen under two UUIDs counts its best uptime and all its errors.
#}
with collateral_gpus as (
  select distinct partition_date, lender_id, loan_terms_hash, gpu_serial
  from {{ ref('stg_loan_collateral') }}
),

gpu_days as (
  select
    partition_date,
    gpu_serial,
    max(minutes_online) as minutes_online,
    sum(xid_error_samples) as xid_error_samples
  from {{ ref('stg_gpu_telemetry_daily') }}
  group by partition_date, gpu_serial
),

gpu_health as (
  select
    collateral_gpus.partition_date,
    collateral_gpus.lender_id,
    collateral_gpus.loan_terms_hash,
    collateral_gpus.gpu_serial,
    coalesce(gpu_days.minutes_online, 0) < {{ var('allowance_dark_below_minutes_online') }} as is_dark,
    coalesce(gpu_days.xid_error_samples, 0) >= {{ var('allowance_erroring_from_xid_error_samples') }} as is_erroring
  from collateral_gpus
  left join gpu_days
    on gpu_days.partition_date = collateral_gpus.partition_date
    and gpu_days.gpu_serial = collateral_gpus.gpu_serial
)

select
  partition_date,
  lender_id,
  loan_terms_hash,
  cast(count(*) as integer) as collateral_gpus,
  cast(sum(case when is_dark then 1 else 0 end) as integer) as dark_gpus,
  cast(sum(case when is_erroring then 1 else 0 end) as integer) as erroring_gpus,
  cast(sum(case when is_dark or is_erroring then 1 else 0 end) as integer) as impaired_gpus
from gpu_health
group by partition_date, lender_id, loan_terms_hash
