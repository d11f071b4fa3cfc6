{#
  H8: the protocol's contracts did not change on the day. A change (new code behind a proxy, an admin, a role, a
  pause, a parameter) is a warning until someone has looked: the figures of the day may rest on code or settings
  the auditor has not seen. One row per chain day (`contracts:unchanged` when none) and per change of the day.
#}
with changes as (
    select partition_date, tx_hash, log_index, contract_role, contract_address, event, change
    from {{ ref('contract_changes') }}
),
chain_days as (
    select partition_date from {{ ref('source_cutoffs') }} where source = 'chain'
    union
    select partition_date from changes
)
select d.partition_date as check_date,
       case when c.tx_hash is null then 'contracts:unchanged'
            else 'contract_change:' || c.tx_hash || ':' || cast(c.log_index as string) end as entity_key,
       'warn' as severity, 'no change to the contracts' as expected,
       coalesce(coalesce(c.contract_role, c.contract_address) || ' ' || c.event || ': ' || c.change, 'unchanged') as actual,
       coalesce(c.event, '') as difference, 'none' as tolerance, c.tx_hash is null as within_tolerance,
       {{ text_literal("the protocol's contracts changed (code, admins, roles, pause or parameters): review the change before relying on the day's figures") }} as description,
       '' as cutoffs,
       'contract_changes ' || coalesce(c.tx_hash || ':' || cast(c.log_index as string), '') || '@' || cast(d.partition_date as string) as lineage
from chain_days d left join changes c using (partition_date)
