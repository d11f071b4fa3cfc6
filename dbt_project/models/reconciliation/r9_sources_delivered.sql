{#
  R9: every source delivered for the day: the chain to a confirmed block, the custodian statement (blockers);
  each lender that delivered a tape in the previous 7 days, GPU telemetry on a day with collateral (warnings).
  Every calendar day has its chain and statement rows: a day no source delivered is two breaks.
#}
with {{ calendar_days_cte() }},
chain as (
    select partition_date, chain_state_block as state_block from {{ ref('source_cutoffs') }} where source = 'chain'
),
statements as (
    select partition_date from {{ ref('source_cutoffs') }} where source = 'custodian_statement'
),
tapes as (
    select distinct as_of_date as partition_date, lender_id from {{ ref('loan_tape_rows') }}
),
expected_lenders as (
    select distinct d.partition_date, t.lender_id
    from days d join tapes t on t.partition_date between d.partition_date - interval 7 day and d.partition_date - interval 1 day
),
telemetry as (
    select partition_date from {{ ref('source_cutoffs') }} where source = 'telemetry'
),
collateral_days as (
    select distinct partition_date from {{ ref('loan_collateral_gpus') }}
)
select d.partition_date as check_date, 'source:chain' as entity_key, 'blocker' as severity,
       'ingested to a confirmed block' as expected,
       case when c.state_block is null then 'missing' else 'block ' || cast(c.state_block as string) end as actual,
       '' as difference, 'present' as tolerance, c.state_block is not null as within_tolerance,
       'chain_days row with the block the state was read at' as description, '' as cutoffs,
       'chain_days@' || cast(d.partition_date as string) as lineage
from days d left join chain c using (partition_date)
union all
select d.partition_date, 'source:custodian_statement', 'blocker', 'statement present',
       case when s.partition_date is null then 'missing' else 'present' end, '', 'present',
       s.partition_date is not null, 'custodian statement dated the day', '', 'custodian_statements@' || cast(d.partition_date as string)
from days d left join statements s using (partition_date)
union all
select e.partition_date, 'source:loan_tape:' || e.lender_id, 'warn', 'tape present',
       case when t.lender_id is null then 'missing' else 'present' end, '', 'present', t.lender_id is not null,
       'a lender that delivered in the previous 7 days delivered today', '', 'loan_tapes@' || cast(e.partition_date as string)
from expected_lenders e left join tapes t using (partition_date, lender_id)
union all
select d.partition_date, 'source:telemetry', 'warn', 'telemetry present',
       case when t.partition_date is null then 'missing' else 'present' end, '', 'present', t.partition_date is not null,
       'GPU telemetry for a day with collateral on the tapes', '', 'gpu_telemetry_daily@' || cast(d.partition_date as string)
from days d join collateral_days cd using (partition_date) left join telemetry t using (partition_date)
