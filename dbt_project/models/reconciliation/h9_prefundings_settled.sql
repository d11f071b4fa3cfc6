{#
  H9: no loan pre-funding outlives its expiration. USDai the vault committed to a loan's terms through the deposit
  timelock (1030, by loanTermsHash) is either taken by the loan's origination or cancelled by the vault once it has
  expired; one still held at a day's close past its expiration (the latest deposit's, as the contract keeps it) is
  neither a loan nor the vault's USDai, and is a warning every day until it is cancelled. An escrow deposit
  (StakedUSDai v1.9) has no expiration: it earns interest until the loan takes it or the vault cancels it. One row
  per ledger day and per pre-funding held at its close (`prefunding:none` when none is).
#}
with ledger_days as (
    select distinct partition_date from {{ ref('trial_balance') }}
),
movements as (
    select partition_date, sub_account as loan_terms_hash, sum(debit) - sum(credit) as movement
    from {{ ref('journal_lines') }}
    where account_code = '1030'
    group by partition_date, sub_account
),
held as (
    select d.partition_date, m.loan_terms_hash, sum(m.movement) as balance
    from ledger_days d
    inner join movements m on m.partition_date <= d.partition_date
    group by d.partition_date, m.loan_terms_hash
    having sum(m.movement) <> 0
),
deposits as (
    select partition_date, block_number, log_index, loan_terms_hash, expiration,
           event = 'LoanEscrowTimelockDeposited' as is_escrow
    from {{ ref('loan_timelock_deposits') }}
    where event in ('LoanTimelockDeposited', 'LoanDepositTimelockDeposited', 'LoanEscrowTimelockDeposited')
),
latest_deposits as (
    select h.partition_date, h.loan_terms_hash, h.balance, dep.expiration, dep.is_escrow,
           row_number() over (partition by h.partition_date, h.loan_terms_hash
                              order by dep.block_number desc, dep.log_index desc) as recency
    from held h
    left join deposits dep
      on dep.loan_terms_hash = h.loan_terms_hash and dep.partition_date <= h.partition_date
),
expirations as (
    select partition_date, loan_terms_hash, balance, expiration, coalesce(is_escrow, false) as is_escrow,
           {{ dbt.datediff("cast('1970-01-01' as timestamp)", "cast(partition_date as timestamp)", "second") }}
             + 86400 as day_end
    from latest_deposits
    where recency = 1
),
rows as (
    select partition_date, 'prefunding:' || loan_terms_hash as entity_key, balance, expiration, is_escrow, day_end
    from expirations
    union all
    select d.partition_date, 'prefunding:none', null, null, false, null
    from ledger_days d
    where not exists (select 1 from held h where h.partition_date = d.partition_date)
)
select partition_date as check_date, entity_key, 'warn' as severity,
       'originated or cancelled by its expiration' as expected,
       case when balance is null then 'none held'
            when is_escrow then {{ as_text("balance") }} || ' USDai held in escrow (no expiration)'
            else {{ as_text("balance") }} || ' USDai held, expiring at unix '
                 || coalesce(cast(expiration as string), 'unknown') end as actual,
       coalesce({{ as_text("balance") }}, '0') as difference,
       'none' as tolerance,
       balance is null or is_escrow or (expiration is not null and expiration >= day_end) as within_tolerance,
       'USDai pre-funding a loan through the deposit timelock, past its expiration with neither the loan '
         || 'originated nor the deposit cancelled' as description,
       coalesce('day ends at unix ' || cast(day_end as string), '') as cutoffs,
       'journal_lines 1030 + loan_timelock_deposits@' || cast(partition_date as string) as lineage
from rows
