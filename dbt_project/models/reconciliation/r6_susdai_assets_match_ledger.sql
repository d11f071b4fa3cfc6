{#
  R6: sUSDai's totalAssets() at the day's last block equals what the ledger says the vault is worth on the vault's
  own terms: the holders' claim (2100), plus the losses the ledger has recognised before the chain does (the
  allowance, 1190: the vault marks a loan down only when its collateral is sold), less the insurance claims the
  pool has not paid yet (1150: the vault sees a recovery when it arrives). Two independent figures: the vault
  values itself from its balances, the ledger from the journal.
#}
with {{ chain_cutoff_cte() }}, {{ address_book_cte() }},
nav as (
    select s.partition_date, s.value * u.usd_per_raw_unit as onchain_nav
    from {{ ref('chain_state_reads') }} s
    join book u on u.partition_date = s.partition_date and u.role = 'usdai'
    where s.contract_role = 'susdai' and s.method = 'totalAssets' and s.field = 'value'
),
ledger as (
    select partition_date,
           -sum(case when account_code = '2100' then closing_balance else 0 end) as ledger_claim,
           -sum(case when account_code = '1190' then closing_balance else 0 end) as allowance,
           sum(case when account_code = '1150' then closing_balance else 0 end) as insurance_receivable
    from {{ ref('trial_balance') }}
    where account_code in ('2100', '1190', '1150')
    group by partition_date
),
compared as (
    select n.partition_date, onchain_nav, ledger_claim, allowance, insurance_receivable,
           ledger_claim + allowance - insurance_receivable as ledger_nav
    from nav n join ledger l using (partition_date)
)
select c.partition_date as check_date, 'susdai:total_assets' as entity_key, 'warn' as severity,
       {{ as_text("onchain_nav") }} as expected, {{ as_text("ledger_nav") }} as actual,
       {{ as_text("onchain_nav - ledger_nav") }} as difference,
       'abs ' || {{ reconciliation_setting('nav_abs_tolerance') }} || ', rel ' || {{ reconciliation_setting('nav_rel_tolerance') }} as tolerance,
       {{ within("onchain_nav - ledger_nav", "onchain_nav", "nav_abs_tolerance", "nav_rel_tolerance") }} as within_tolerance,
       'sUSDai.totalAssets() vs ledger 2100 ' || {{ as_text("ledger_claim") }} || ' + allowance 1190 '
           || {{ as_text("allowance") }} || ' - insurance receivable 1150 ' || {{ as_text("insurance_receivable") }}
           as description,
       k.cutoff as cutoffs,
       'chain_state + trial_balance 2100, 1190, 1150@' || cast(c.partition_date as string) as lineage
from compared c left join chain_cutoff k using (partition_date)
