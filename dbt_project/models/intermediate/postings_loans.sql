{#
  The loan router's events of the rebuild window: loan_originated, loan_repaid, loan_liquidated and
  loan_fee_received, amounts in the loan's currency where the router's transfers put it (loan_router_events_usd).
  The origination, exit and liquidation fees are paid to the router's fee recipient, outside the protocol: they are
  not the vault's and post nothing (LoanOriginated's, LoanRepaid's and the liquidation events' fee fields never
  post). LoanRouterV2 names each fee it pays and its recipient (FeePaid): one paid to a protocol address (the
  address book's is_protocol that day, e.g. the sUSDai vault) is the protocol's fee income, 4020, its cash on the
  recipient's 1020 sub-account (2000 for a loan in USDai); one paid to any other address posts nothing. A
  liquidation settles the loan's principal and interest against the proceeds the vault received (net of the fee and
  of the surplus the router keeps for its fee recipient), its shortfall charged to the loan's allowance (1190) first
  and to credit loss expense (5000) beyond it; proceeds above what the tapes accrued are interest income (4000)
  (loan_liquidations).
#}
with loan_events as (
  select * from {{ ref('loan_router_events_usd') }}
  where {{ in_rebuild_window("partition_date") }}
),

window_originations as (
  select * from loan_events where event = 'LoanOriginated'
),

window_repayments as (
  select * from loan_events where event = 'LoanRepaid'
),

-- FeePaid to a protocol address (the recipient's role on the event's day): the protocol's own fee. A fee to any
-- other address (the router's fee recipient, outside the protocol) is not the protocol's.
window_fees_received as (
  select loan_events.*
  from loan_events
  left join {{ ref('address_roles_daily') }} as recipient_roles
    on recipient_roles.partition_date = loan_events.partition_date
    and recipient_roles.address_key = lower(loan_events.recipient)
  where loan_events.event = 'FeePaid' and coalesce(recipient_roles.is_protocol, false)
),

liquidation_results as (
  select * from {{ ref('loan_liquidations') }}
  where {{ in_rebuild_window("partition_date") }}
),

lines as (
  select partition_date, block_time, tx_hash, log_index, 'loan_originated' as rule_id,
         1 as line_no, '1100' as account_code, loan_terms_hash as sub_account, principal_usd as signed_amount
  from window_originations
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_originated',
         2, cash_account, cash_sub_account, -principal_usd
  from window_originations

  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         1, cash_account, cash_sub_account, principal_usd + interest_usd + prepayment_usd
  from window_repayments
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         2, '1100', loan_terms_hash, -(principal_usd + prepayment_usd)
  from window_repayments
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_repaid',
         3, '1110', loan_terms_hash, -interest_usd
  from window_repayments

  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_fee_received',
         1, cash_account, cash_sub_account, fee_usd
  from window_fees_received
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_fee_received',
         2, '4020', '', -fee_usd
  from window_fees_received

  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         1, cash_account, cash_sub_account, proceeds_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         2, '1190', loan_terms_hash, allowance_used_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         3, '5000', '', case when shortfall_usd > 0 then shortfall_usd - allowance_used_usd else 0 end
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         4, '1100', loan_terms_hash, -outstanding_principal_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         5, '1110', loan_terms_hash, -accrued_interest_usd
  from liquidation_results
  union all
  select partition_date, block_time, tx_hash, log_index, 'loan_liquidated',
         6, '4000', '', case when shortfall_usd < 0 then shortfall_usd else 0 end
  from liquidation_results
)

{{ chain_line_postings("lines") }}
