{#
  R7: every collateral GPU of a performing loan reported telemetry for most of the day with few XID errors.
  One row per day and GPU.
#}
with active_on_chain as (
    select partition_date, loan_terms_hash
    from {{ ref('loan_router_states') }}
    where status = 'Active'
),
-- The vault's collateral: loans active on chain that their lender reports performing (a tape-only loan is
-- R5's orphan; a loan the chain has closed holds no collateral).
performing as (
    select t.as_of_date as partition_date, t.loan_terms_hash
    from {{ ref('loan_tape_rows') }} t
    join active_on_chain a on a.partition_date = t.as_of_date and a.loan_terms_hash = lower(t.loan_terms_hash)
    where t.status in ('current', 'delinquent')
),
collateral as (
    select distinct c.partition_date, c.loan_terms_hash, c.gpu_serial
    from {{ ref('loan_collateral_gpus') }} c join performing p using (partition_date, loan_terms_hash)
),
telemetry as (
    select partition_date, gpu_serial, sum(minutes_online) as minutes_online,
           sum(xid_error_samples) as xid_error_samples, max(last_seen) as last_seen
    from {{ ref('gpu_telemetry_by_day') }}
    group by partition_date, gpu_serial
)
select c.partition_date as check_date, 'gpu:' || c.gpu_serial as entity_key, 'warn' as severity,
       '>= ' || {{ reconciliation_setting('gpu_min_online_minutes') }} || ' min online, <= ' || {{ reconciliation_setting('gpu_max_xid_error_samples') }} || ' XID samples' as expected,
       cast(coalesce(t.minutes_online, 0) as string) || ' min online, '
           || cast(coalesce(t.xid_error_samples, 0) as string) || ' XID samples' as actual,
       case when t.gpu_serial is null then 'no telemetry' else '' end as difference,
       'thresholds' as tolerance,
       coalesce(t.minutes_online, 0) >= cast({{ reconciliation_setting('gpu_min_online_minutes') }} as double)
           and coalesce(t.xid_error_samples, 0) <= cast({{ reconciliation_setting('gpu_max_xid_error_samples') }} as bigint) as within_tolerance,
       'collateral of loan ' || c.loan_terms_hash as description,
       'last sample ' || coalesce(cast(t.last_seen as string), 'none') as cutoffs,
       'gpu_telemetry_daily@' || cast(c.partition_date as string) || ' + loan_collateral' as lineage
from collateral c left join telemetry t using (partition_date, gpu_serial)
