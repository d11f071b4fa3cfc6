{{ config(materialized='view') }}
{#
  A loan keeps one identity when its terms are renamed: LoanRouterV2 v1.0's LoanMigrated gives a V1 loan its V2
  terms hash, v1.1's LoanRefinanced gives a V2 loan new terms; no token moves (docs/chain-events.md). One row per
  renamed-to hash (lower case): the hash it was renamed from, the loan's first hash (`identity_hash`, the ledger's
  sub-account of 1100, 1110 and 1190 for every name the loan has had), the rename and the new terms' currency.
  Renames are few: all history.
#}
with recursive renames as (
  select
    lower(new_loan_terms_hash) as loan_terms_hash,
    lower(old_loan_terms_hash) as renamed_from,
    event as renamed_by,
    partition_date,
    block_number,
    log_index,
    tx_hash,
    contract_address as router,
    {{ loan_terms_v2_currency("new_loan_terms") }} as currency_token
  from {{ ref('stg_loan_router_events') }}
  where event in ('LoanMigrated', 'LoanRefinanced')
),

ancestry as (
  select loan_terms_hash, renamed_from as ancestor, 1 as generation
  from renames
  union all
  select ancestry.loan_terms_hash, renames.renamed_from, ancestry.generation + 1
  from ancestry
  inner join renames on renames.loan_terms_hash = ancestry.ancestor
  where ancestry.generation < 64  -- a cycle of renames cannot happen on chain; a bad lake must not hang the build
),

identities as (
  select loan_terms_hash, max_by(ancestor, generation) as identity_hash
  from ancestry
  group by loan_terms_hash
)

select renames.*, identities.identity_hash
from renames
inner join identities using (loan_terms_hash)
