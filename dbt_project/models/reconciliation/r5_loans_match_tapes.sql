{#
  R5: every loan open on chain (loanState().status > 0) is on a lender's tape and vice versa, on each tape day;
  where both have it, the tape's principal equals loanState().scaledBalance and its status is one the chain's
  status allows.
#}
with {{ chain_cutoff_cte() }}, {{ address_book_cte() }},
-- A loan V1 marks Migrated lives on under its V2 hash: the tapes carry that one.
chain_loans as (
    select partition_date, loan_terms_hash, status_code as chain_status, status as chain_status_name,
           tape_statuses, scaled_balance
    from {{ ref('loan_router_states') }}
    where status_code > 0 and coalesce(status, '') != 'Migrated'
),
usdai_units as (select partition_date, usd_per_raw_unit from book where role = 'usdai'),
tapes as (
    select as_of_date as partition_date, lower(loan_terms_hash) as loan_terms_hash, lender_id, status,
           principal_outstanding, source_file, source_row
    from {{ ref('loan_tape_rows') }}
),
tape_days as (select distinct partition_date from tapes),
both_sides as (
    select coalesce(c.partition_date, t.partition_date) as partition_date,
           coalesce(c.loan_terms_hash, t.loan_terms_hash) as loan_terms_hash,
           c.chain_status, c.chain_status_name, c.tape_statuses, c.scaled_balance * u.usd_per_raw_unit as chain_principal,
           t.status as tape_status, t.principal_outstanding as tape_principal, t.lender_id,
           t.source_file, t.source_row
    from (select * from chain_loans where partition_date in (select partition_date from tape_days)) c
    full outer join tapes t on c.partition_date = t.partition_date and c.loan_terms_hash = t.loan_terms_hash
    left join usdai_units u on u.partition_date = coalesce(c.partition_date, t.partition_date)
),
comparisons as (
    select partition_date, 'loan:' || loan_terms_hash || ':presence' as entity_key,
           'on chain and on a tape' as expected,
           case when chain_status is null then 'on a tape (' || lender_id || ') only'
                when tape_status is null then 'on chain only' else 'on chain and on a tape' end as actual,
           case when chain_status is null then 'orphan tape loan' when tape_status is null then 'missing from tape'
                else '' end as difference,
           'exact' as tolerance, chain_status is not null and tape_status is not null as ok,
           {{ text_literal("loanState() vs the lenders' tapes") }} as what, source_file, source_row
    from both_sides
    union all
    select partition_date, 'loan:' || loan_terms_hash || ':principal', {{ as_text("chain_principal") }},
           {{ as_text("tape_principal") }}, {{ as_text("chain_principal - tape_principal") }},
           'abs ' || {{ reconciliation_setting('loan_principal_abs_tolerance') }} || ', rel ' || {{ reconciliation_setting('loan_principal_rel_tolerance') }},
           {{ within("chain_principal - tape_principal", "chain_principal", "loan_principal_abs_tolerance", "loan_principal_rel_tolerance") }},
           'loanState().scaledBalance vs tape principal_outstanding', source_file, source_row
    from both_sides where chain_status is not null and tape_status is not null
    union all
    select partition_date, 'loan:' || loan_terms_hash || ':status',
           'status ' || cast(chain_status as string) || coalesce(' (' || chain_status_name || ')', ' (unknown)')
             || ' -> one of ' || coalesce(tape_statuses, ''),
           tape_status, '', 'exact', coalesce(contains('/' || nullif(tape_statuses, '') || '/', '/' || tape_status || '/'), false),
           'loanState().status vs tape status', source_file, source_row
    from both_sides where chain_status is not null and tape_status is not null
)
select c.partition_date as check_date, entity_key, 'blocker' as severity, expected, actual, difference,
       tolerance, ok as within_tolerance, what as description,
       concat_ws('; ', k.cutoff, 'tapes as of ' || cast(c.partition_date as string)) as cutoffs,
       coalesce(source_file || ':' || cast(source_row as string), 'chain_state@' || cast(c.partition_date as string)) as lineage
from comparisons c left join chain_cutoff k using (partition_date)
