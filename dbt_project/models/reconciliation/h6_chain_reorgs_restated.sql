{#
  H6: no chain reorganisation reached an ingested day; one that did is a warning until someone has looked: the
  day was re-ingested (or withdrawn) and the ledger restates it with reversing entries. One row per chain day
  (`chain_reorg:none` when unchanged) and per reorganisation of the day.
#}
with reorgs as (
    select partition_date, reorg_id, max(fork_block) as fork_block, max(depth) as depth, max(action) as action,
           max(detected_at) as detected_at
    from {{ ref('chain_reorganisations') }}
    group by partition_date, reorg_id
),
chain_days as (
    select partition_date from {{ ref('source_cutoffs') }} where source = 'chain'
    union
    select partition_date from reorgs
)
select d.partition_date as check_date, 'chain_reorg:' || coalesce(r.reorg_id, 'none') as entity_key,
       'warn' as severity, 'blocks as ingested' as expected,
       coalesce('replaced from block ' || cast(r.fork_block as string) || ' (depth ' || cast(r.depth as string) || ')',
                'unchanged') as actual,
       coalesce(r.action, '') as difference, 'none' as tolerance, r.reorg_id is null as within_tolerance,
       {{ text_literal("the day's chain data changed after it was ingested; the ledger restates it with reversing entries") }} as description,
       coalesce('detected ' || cast(r.detected_at as string), '') as cutoffs,
       'chain_reorgs ' || coalesce(r.reorg_id, '') || '@' || cast(d.partition_date as string) as lineage
from chain_days d left join reorgs r using (partition_date)
