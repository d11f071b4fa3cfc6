{#
  Every change to the protocol's contracts themselves, one row per log: new code behind a proxy, admins, roles,
  pauses and parameters (the events `assets/chain/registry.py` gives the model `contract_changes`). What changed is
  said in words from the log's arguments; a role is named where access_roles knows its id. H8 warns of each, and
  the attestation of its day lists them. The first build reads all history, like every table kept day by day.
#}
with changes as (
  select * from {{ ref('stg_chain_events') }}
  where model = 'contract_changes'
    and {{ in_cumulative_window("partition_date") }}
),

named as (
  select
    changes.*,
    {{ json_text('arguments', "'$.role'") }} as role_id,
    coalesce(roles.role_name, {{ json_text('arguments', "'$.role'") }}) as role
  from changes
  left join {{ ref('access_roles') }} roles on roles.role_id = {{ json_text('changes.arguments', "'$.role'") }}
)

select
  partition_date,
  block_number,
  block_time,
  tx_hash,
  log_index,
  contract_address,
  contract_role,
  event,
  signature,
  case
    when event in ('Upgraded', 'BeaconUpgraded', 'AdminChanged', 'Initialized', 'Migrated', 'EIP712DomainChanged')
      then 'code'
    when event in ('RoleGranted', 'RoleRevoked', 'RoleAdminChanged') then 'access'
    when event in ('Paused', 'Unpaused') then 'pause'
    when event in ('ReserveAccountCreated', 'ReceiptTokenDeployed') then 'deployment'
    else 'parameter'
  end as change_kind,
  case event
    when 'Upgraded' then 'implementation set to ' || {{ json_text('arguments', "'$.implementation'") }}
    when 'BeaconUpgraded' then 'beacon set to ' || {{ json_text('arguments', "'$.beacon'") }}
    when 'AdminChanged' then 'proxy admin ' || {{ json_text('arguments', "'$.previousAdmin'") }} || ' replaced by '
      || {{ json_text('arguments', "'$.newAdmin'") }}
    when 'RoleGranted' then role || ' granted to ' || {{ json_text('arguments', "'$.account'") }} || ' by '
      || {{ json_text('arguments', "'$.sender'") }}
    when 'RoleRevoked' then role || ' revoked from ' || {{ json_text('arguments', "'$.account'") }} || ' by '
      || {{ json_text('arguments', "'$.sender'") }}
    when 'Paused' then 'paused by ' || {{ json_text('arguments', "'$.account'") }}
    when 'Unpaused' then 'unpaused by ' || {{ json_text('arguments', "'$.account'") }}
    else event || ' ' || arguments
  end as change,
  arguments
from named
