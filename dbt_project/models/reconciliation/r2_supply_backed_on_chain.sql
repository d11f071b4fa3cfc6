{#
  R2: USDai supply is backed by the base token the USDai contract holds (the public monitor's rule, a shortfall
  within tolerance), and every protocol address's stablecoin balance on chain equals ledger 1020 for it.
#}
with {{ address_book_cte() }}, {{ chain_cutoff_cte() }},
state as (
    select * from {{ ref('chain_state_reads') }}
    where field = 'value'
),
supply as (
    select s.partition_date,
           sum(case when s.method in ('totalSupply', 'bridgedSupply') then s.value * b.usd_per_raw_unit end) as needed
    from state s join book b on b.partition_date = s.partition_date and b.address_key = lower(s.contract_address)
    where s.contract_role = 'usdai' group by s.partition_date
),
-- Every base token the book lists (the one in use and the one USDai moved from, or is moving to): the day of
-- USDai v1.4's conversion the reserve is held in both.
base_held as (
    select s.partition_date, sum(s.value * t.usd_per_raw_unit) as held
    from state s
    join book t on t.partition_date = s.partition_date and t.address_key = lower(s.contract_address)
    join book u on u.partition_date = s.partition_date and u.address_key = lower(s.key) and u.role = 'usdai'
    where s.contract_role = 'base_token' and s.method = 'balanceOf'
    group by s.partition_date
),
public_rule as (
    select p.partition_date, 'usdai:public_backing_rule' as entity_key, p.needed as expected,
           coalesce(h.held, 0) as actual,
           {{ text_literal("totalSupply + bridgedSupply <= the base tokens' balanceOf(USDai) (the public monitor's rule)") }} as what
    from supply p left join base_held h using (partition_date)
),
onchain as (
    select s.partition_date, lower(s.contract_address) || '@' || lower(s.key) as sub_key,
           t.token_symbol || '@' || h.role as label, s.value * t.usd_per_raw_unit as onchain_usd
    from state s
    join book t on t.partition_date = s.partition_date and t.address_key = lower(s.contract_address)
    join book h on h.partition_date = s.partition_date and h.address_key = lower(s.key) and h.is_protocol
    where s.method = 'balanceOf' and s.contract_role in ('base_token', 'usdc')
),
ledger as (
    select b.partition_date, lower(b.sub_account) as sub_key, sum(b.closing_balance) as ledger_usd
    from {{ ref('reserve_balances') }} b
    where b.account_code = '1020' and b.partition_date in (select partition_date from onchain)
    group by b.partition_date, lower(b.sub_account)
),
balances as (
    select coalesce(o.partition_date, l.partition_date) as partition_date,
           'stablecoin:' || coalesce(o.label, l.sub_key) as entity_key,
           coalesce(o.onchain_usd, 0) as expected, coalesce(l.ledger_usd, 0) as actual,
           'balanceOf at the cut-off block vs ledger 1020 ' || coalesce(o.sub_key, l.sub_key) as what
    from onchain o full outer join ledger l on o.partition_date = l.partition_date and o.sub_key = l.sub_key
)
select r.partition_date as check_date, r.entity_key, 'blocker' as severity,
       {{ as_text("r.expected") }} as expected, {{ as_text("r.actual") }} as actual,
       {{ as_text("r.expected - r.actual") }} as difference,
       'shortfall <= ' || {{ reconciliation_setting('backing_shortfall_tolerance') }} as tolerance,
       coalesce(r.expected - r.actual <= cast({{ reconciliation_setting('backing_shortfall_tolerance') }} as decimal(38, 18)), false) as within_tolerance,
       r.what as description, k.cutoff as cutoffs, 'chain_state@' || cast(r.partition_date as string) as lineage
from public_rule r left join chain_cutoff k using (partition_date)
union all
select b.partition_date, b.entity_key, 'blocker', {{ as_text("b.expected") }}, {{ as_text("b.actual") }},
       {{ as_text("b.expected - b.actual") }}, 'abs ' || {{ reconciliation_setting('stablecoin_abs_tolerance') }},
       {{ within("b.expected - b.actual", "b.expected", "stablecoin_abs_tolerance") }},
       b.what, k.cutoff, 'chain_state + journal_lines 1020@' || cast(b.partition_date as string)
from balances b left join chain_cutoff k using (partition_date)
