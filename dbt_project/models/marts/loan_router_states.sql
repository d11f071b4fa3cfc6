{{ config(materialized='view') }}
{#
  Each loan's loanState() at each day's state block, one row per (day, loan), with its status by name: the code's
  meaning depends on the router's interface (V2 inserted Breached at 3; seed loan_router_statuses), which the
  address book gives per router (a router it does not type is read as V1, the sandbox's). `scaled_balance` is the
  whole loan's outstanding principal scaled to 18 decimals, the raw integer the router returned.
#}
with reads as (
  select
    partition_date,
    lower(key) as loan_terms_hash,
    contract_address as router_address,
    cast(max(case when field = 'status' then value end) as integer) as status_code,
    max(case when field = 'scaledBalance' then value end) as scaled_balance
  from {{ ref('chain_state_reads') }}
  where method = 'loanState'
  group by partition_date, lower(key), contract_address
),

interfaces as (
  select distinct partition_date, lower(address) as router_address, interface
  from {{ ref('stg_chain_address_book') }}
  where role = 'loan_router'
),

typed as (
  select reads.*, coalesce(interfaces.interface, 'LoanRouterV1') as interface
  from reads
  left join interfaces
    on interfaces.partition_date = reads.partition_date and interfaces.router_address = lower(reads.router_address)
)

select
  typed.partition_date,
  typed.loan_terms_hash,
  typed.router_address,
  typed.interface,
  typed.status_code,
  statuses.status,
  coalesce(statuses.tape_statuses, '') as tape_statuses,
  typed.scaled_balance
from typed
left join {{ ref('loan_router_statuses') }} statuses
  on statuses.interface = typed.interface and statuses.status_code = typed.status_code
