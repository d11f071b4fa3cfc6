{#
  Decoded logs, one row per (partition_date, tx_hash, log_index): a log ingested twice into a day counts once. A
  log is on one day only (test chain_logs_are_on_one_day): after a reorg moves a transaction across midnight,
  both days are re-ingested. Keyed by day, a filter on the day reaches the Parquet scan.

  Modelled events only: an event the registry decodes but no model reads (declared, not modelled) stays in the lake
  with its arguments, and is never taken for a modelled event of the same name (the timelocks' `Deposited`, say).
  Lake days written before `model` and `arguments` existed hold the ledger's events only (and no `arguments`). The
  filter tests `is not null` of `model` and `is null` of `arguments` (never null in a new day): DuckDB 2.0 answers
  `model is null` (and a coalesce of it) with every row of a Parquet row group whose non-null values are all one.
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
    cast(contract_role as string) as contract_role,
    cast(event as string) as event,
    cast(signature as string) as signature,
    cast(topic0 as string) as topic0,
    coalesce(cast(model as string), 'ledger') as model,
    cast(arguments as string) as arguments,
    cast(from_address as string) as from_address,
    cast(to_address as string) as to_address,
    cast(caller as string) as caller,
    cast(recipient as string) as recipient,
    cast(deposit_token as string) as deposit_token,
    cast(withdraw_token as string) as withdraw_token,
    cast(account as string) as account,
    cast(sender as string) as sender,
    cast(owner as string) as owner,
    cast(receiver as string) as receiver,
    cast(controller as string) as controller,
    cast(currency_token as string) as currency_token,
    cast(borrower as string) as borrower,
    cast(lender as string) as lender,
    cast(spender as string) as spender,
    cast(operator as string) as operator,
    cast(pool as string) as pool,
    cast(fee_model as string) as fee_model,
    cast(value as decimal(38, 0)) as value,
    cast(deposit_amount as decimal(38, 0)) as deposit_amount,
    cast(mint_amount as decimal(38, 0)) as mint_amount,
    cast(usdai_amount as decimal(38, 0)) as usdai_amount,
    cast(withdraw_amount as decimal(38, 0)) as withdraw_amount,
    cast(assets as decimal(38, 0)) as assets,
    cast(shares as decimal(38, 0)) as shares,
    cast(fulfilled_shares as decimal(38, 0)) as fulfilled_shares,
    cast(amount as decimal(38, 0)) as amount,
    cast(pending_shares as decimal(38, 0)) as pending_shares,
    cast(deposited_amount as decimal(38, 0)) as deposited_amount,
    cast(admin_fee as decimal(38, 0)) as admin_fee,
    cast(usdai_deposit_amount as decimal(38, 0)) as usdai_deposit_amount,
    cast(admin_fee_amount as decimal(38, 0)) as admin_fee_amount,
    cast(principal as decimal(38, 0)) as principal,
    cast(origination_fee as decimal(38, 0)) as origination_fee,
    cast(interest as decimal(38, 0)) as interest,
    cast(prepay as decimal(38, 0)) as prepay,
    cast(prepayment as decimal(38, 0)) as prepayment,
    cast(exit_fee as decimal(38, 0)) as exit_fee,
    cast(proceeds as decimal(38, 0)) as proceeds,
    cast(liquidation_fee as decimal(38, 0)) as liquidation_fee,
    cast(surplus as decimal(38, 0)) as surplus,
    cast(fee as decimal(38, 0)) as fee,
    cast(expiration as decimal(38, 0)) as expiration,
    cast(interest_rate as decimal(38, 0)) as interest_rate,
    cast(pool_currency_amount as decimal(38, 0)) as pool_currency_amount,
    cast(token_id as string) as token_id,
    cast(request_id as string) as request_id,
    cast(redemption_id as string) as redemption_id,
    cast(tick as string) as tick,
    cast(tranche_index as integer) as tranche_index,
    cast(fee_kind as integer) as fee_kind,
    cast(loan_terms_hash as string) as loan_terms_hash,
    cast(old_loan_terms_hash as string) as old_loan_terms_hash,
    cast(new_loan_terms_hash as string) as new_loan_terms_hash,
    cast(new_loan_terms as string) as new_loan_terms,
    cast(encoded_bundle as string) as encoded_bundle,
    cast(is_blacklisted as boolean) as is_blacklisted,
    cast(all_redemptions_serviced as boolean) as all_redemptions_serviced,
    cast(is_repaid as boolean) as is_repaid,
    cast(approved as boolean) as approved
  from ({{ with_optional_columns(lake_table('chain_events'), {'model': 'string', 'arguments': 'string', 'expiration': 'decimal(38, 0)', 'interest_rate': 'decimal(38, 0)',
     'pool': 'string', 'tick': 'string', 'pool_currency_amount': 'decimal(38, 0)', 'fee_model': 'string',
     'fee_kind': 'integer'}) }})
  where {{ in_cumulative_window("partition_date") }}
    and (model is not null or arguments is null)
)

{{ deduplicate('lake', ['partition_date', 'tx_hash', 'log_index'], 'block_number desc, block_hash') }}
