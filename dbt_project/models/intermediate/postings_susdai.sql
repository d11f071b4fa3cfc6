{#
  The sUSDai vault's events of the rebuild window: susdai_stake (Deposit), redemption_serviced (RedemptionProcessed) and
  redemption_claimed (Withdraw). Amounts are USDai.
#}
with vault_events as (
  select
    events.partition_date,
    events.block_time,
    events.tx_hash,
    events.log_index,
    events.event,
    events.assets,
    events.amount,
    protocol.usdai_usd_per_raw_unit
  from {{ ref('stg_chain_events') }} as events
  inner join {{ ref('protocol_roles_daily') }} as protocol
    on protocol.partition_date = events.partition_date
  where events.contract_role = 'susdai'
    and events.event in ('Deposit', 'RedemptionProcessed', 'Withdraw')
    and {{ in_rebuild_window("events.partition_date") }}
),

entries as (
  select
    partition_date,
    block_time as effective_time,
    'chain' as source,
    {{ chain_source_key("tx_hash", "log_index") }} as source_key,
    case event
      when 'Deposit' then 'susdai_stake'
      when 'RedemptionProcessed' then 'redemption_serviced'
      else 'redemption_claimed'
    end as rule_id,
    case event when 'Deposit' then '2000' when 'RedemptionProcessed' then '2100' else '2110' end as debit_account,
    '' as debit_sub_account,
    case event when 'Deposit' then '2100' when 'RedemptionProcessed' then '2110' else '2000' end as credit_account,
    '' as credit_sub_account,
    case event
      when 'RedemptionProcessed' then {{ raw_to_usd("amount", "usdai_usd_per_raw_unit") }}
      else {{ raw_to_usd("assets", "usdai_usd_per_raw_unit") }}
    end as amount
  from vault_events
)

{{ two_line_postings("entries") }}
