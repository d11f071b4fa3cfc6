{#
  The loan router's events over all history, one row per (partition_date, tx_hash, log_index) like
  stg_chain_events: a liquidation needs the loan's whole life (what was lent and repaid before it) and a repayment
  or a fee (V2 `FeePaid`: `recipient`, `fee_kind`, `amount`) its loan's currency. Only the router's logs are read
  and deduplicated, a small part of the chain's.
#}
with lake as (
  select
    cast(partition_date as date) as partition_date,
    cast(block_number as bigint) as block_number,
    cast(block_hash as string) as block_hash,
    cast(block_time as timestamp) as block_time,
    cast(tx_hash as string) as tx_hash,
    cast(log_index as integer) as log_index,
    cast(contract_address as string) as contract_address,
    cast(event as string) as event,
    cast(loan_terms_hash as string) as loan_terms_hash,
    cast(old_loan_terms_hash as string) as old_loan_terms_hash,
    cast(new_loan_terms_hash as string) as new_loan_terms_hash,
    cast(new_loan_terms as string) as new_loan_terms,
    cast(currency_token as string) as currency_token,
    cast(recipient as string) as recipient,
    cast(fee_kind as integer) as fee_kind,
    cast(principal as decimal(38, 0)) as principal,
    cast(origination_fee as decimal(38, 0)) as origination_fee,
    cast(interest as decimal(38, 0)) as interest,
    cast(prepayment as decimal(38, 0)) as prepayment,
    cast(exit_fee as decimal(38, 0)) as exit_fee,
    cast(proceeds as decimal(38, 0)) as proceeds,
    cast(liquidation_fee as decimal(38, 0)) as liquidation_fee,
    cast(fee as decimal(38, 0)) as fee,
    cast(surplus as decimal(38, 0)) as surplus,
    cast(amount as decimal(38, 0)) as amount
  from {{ lake_table('chain_events') }}
  where contract_role = 'loan_router'
    and {{ in_cumulative_window("partition_date") }}
)

{{ deduplicate('lake', ['partition_date', 'tx_hash', 'log_index'], 'block_number desc, block_hash') }}
