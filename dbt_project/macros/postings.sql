{#
  The postings shape, shared by every model of models/intermediate and read by journal_lines:
    partition_date, effective_time, source, source_key, rule_id, line_no, account_code, sub_account, signed_amount
  `signed_amount` is positive for a debit and negative for a credit, so an entry balances when its lines sum to
  zero and a negative amount (a mark-down, a negative yield) swaps sides without a rule of its own.
#}

{#
  Two-line entries from `entries` (a CTE with partition_date, effective_time, source, source_key, rule_id,
  debit_account, debit_sub_account, credit_account, credit_sub_account, amount): amount to the debit account,
  the same amount from the credit account.
#}
{% macro two_line_postings(entries) -%}
  select
    partition_date, effective_time, source, source_key, rule_id,
    1 as line_no, debit_account as account_code, debit_sub_account as sub_account,
    {{ usd("amount") }} as signed_amount
  from {{ entries }}
  union all
  select
    partition_date, effective_time, source, source_key, rule_id,
    2 as line_no, credit_account as account_code, credit_sub_account as sub_account,
    {{ usd("-amount") }} as signed_amount
  from {{ entries }}
{%- endmacro %}

{#
  The postings of chain events from `lines` (a CTE with partition_date, block_time, tx_hash, log_index, rule_id,
  line_no, account_code, sub_account, signed_amount): each keyed by its log, effective at its block's time.
#}
{% macro chain_line_postings(lines) -%}
  select
    partition_date,
    block_time as effective_time,
    'chain' as source,
    {{ chain_source_key("tx_hash", "log_index") }} as source_key,
    rule_id,
    line_no,
    account_code,
    sub_account,
    {{ usd("signed_amount") }} as signed_amount
  from {{ lines }}
{%- endmacro %}

{# Sub-account of 1020: the token held and who holds it. #}
{% macro token_holding(token_address, holder_address) -%}
  {{ dbt.concat([token_address, "'@'", holder_address]) }}
{%- endmacro %}

{#
  The currency token of LoanRouterV2 loan terms as `LoanMigrated` and `LoanRefinanced` carry them (0x hex of
  abi.encode of the terms tuple): after the tuple's offset word come expiration, borrower and currencyToken, one
  word each, so the currency is the last 20 bytes of the fourth word.
#}
{% macro loan_terms_v2_currency(encoded_terms) -%}
  lower('0x' || substr({{ encoded_terms }}, 3 + 64 * 3 + 24, 40))
{%- endmacro %}
