"""The reconciliation checks of DESIGN.md (R1–R9) and the hygiene checks (H1–H3), as exact SQL on the warehouse.

Each check yields evaluation rows — one per day and entity — with exact decimal strings, the tolerance applied,
each source's own cut-off, and a `within_tolerance` flag computed in DECIMAL by DuckDB. Great Expectations
validates the rows; failing rows become exceptions. A day is evaluated only where its sources exist: a missing
source is R9's break, not every other check's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd

from foundation.lake import SCHEMAS
from expectations.exceptions import BLOCKER, BREAK_COLUMNS, WARN
from expectations.policy import ReconciliationPolicy

EVALUATION_COLUMNS = [
    "check_date", "entity_key", "severity", "expected", "actual", "difference", "tolerance", "within_tolerance",
    "description", "cutoffs", "lineage",
]

# Shared fragments. $min_date/$max_date bound the run's partition window. Lake-backed views are filtered on their
# partition_date, which prunes the lake's day folders: a statement's day is its statement_date and a tape's its
# as_of_date (ingestion rejects a row dated otherwise), so the filter means the same and reads one day's files.
WINDOW_DAYS = """days as (
    select cast(d as date) as partition_date
    from generate_series(cast($min_date as timestamp), cast($max_date as timestamp), interval 1 day) as t(d)
)"""
ADDRESS_BOOK = """book as (
    select partition_date, role, lower(address) as address_key, address, is_protocol, token_symbol, usd_per_raw_unit
    from main.stg_chain_address_book where partition_date between $min_date and $max_date
)"""
CHAIN_CUTOFF = """chain_cutoff as (
    select partition_date, 'chain block ' || cast(state_block as varchar) || ' ' || state_block_hash
           || ' at ' || cast(to_block_time as varchar) as cutoff
    from main.stg_chain_days where partition_date between $min_date and $max_date
)"""
STATEMENT_CUTOFF = """statement_cutoff as (
    select statement_date as partition_date,
           'statement ' || string_agg(distinct custodian_id, ',') || ' cut-off ' || cast(max(cut_off_time) as varchar) as cutoff
    from main.stg_custodian_statements where partition_date between $min_date and $max_date group by statement_date
)"""


def within(difference: str, expected: str, abs_param: str, rel_param: str | None = None) -> str:
    """SQL: |difference| <= max(absolute tolerance, relative tolerance x |expected|), exact in DECIMAL."""
    absolute = f"cast(${abs_param} as decimal(38, 18))"
    if rel_param is None:
        return f"coalesce(abs({difference}) <= {absolute}, false)"
    relative = f"cast(${rel_param} as decimal(18, 12)) * abs(coalesce({expected}, 0))"
    return f"coalesce(abs({difference}) <= greatest({absolute}, {relative}), false)"


@dataclass(frozen=True)
class Reconciliation:
    check_id: str
    asset: str
    title: str
    sql: str
    key_columns: list[str] = field(default_factory=lambda: ["check_date", "entity_key"])
    # Lake tables the SQL reads as `lake_<table>` that the warehouse does not model: written only when something
    # happens (a reorganisation, a rejected file), so they may have no file at all.
    lake_tables: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.check_id.lower()}_{self.asset}"

    def evaluate(self, con: duckdb.DuckDBPyConnection, days: list[date], policy: ReconciliationPolicy,
                 lake_dir: Path | None = None) -> pd.DataFrame:
        for table in self.lake_tables:
            register_lake_table(con, lake_dir, table, (min(days), max(days)))
        params = {"min_date": min(days), "max_date": max(days), **policy.as_params()}
        # DuckDB refuses named parameters a statement doesn't use.
        used = {name: value for name, value in params.items() if f"${name}" in self.sql}
        frame = con.execute(self.sql, used).df()
        for column in EVALUATION_COLUMNS:
            if column not in frame.columns:
                frame[column] = ""
        return frame[EVALUATION_COLUMNS].reset_index(drop=True)

    def breaks(self, rows: pd.DataFrame, failing_indexes: list[int]) -> pd.DataFrame:
        """The failing rows as breaks (exceptions.BREAK_COLUMNS), as a frame: a window can hold thousands."""
        failing = rows.loc[failing_indexes] if failing_indexes else rows.iloc[0:0]
        frame = failing.assign(check_id=self.check_id, check_date=pd.to_datetime(failing["check_date"]).dt.date)
        return frame[BREAK_COLUMNS].astype({c: str for c in BREAK_COLUMNS if c not in ("check_date",)}) \
            .reset_index(drop=True)


def register_lake_table(con: duckdb.DuckDBPyConnection, lake_dir: Path | None, table: str,
                        window: tuple[date, date] | None = None) -> None:
    """The lake's `table` as the view `lake_<table>`: the partitions of `window` (both ends inclusive), or every
    one; empty, with its schema, when there is none. A check reads its window's files only, so its cost does not
    grow with the history."""
    files = sorted((lake_dir / table).glob("date=*/part-0.parquet")) if lake_dir is not None else []
    if window is not None:
        first, last = (day.isoformat() for day in window)
        files = [f for f in files if first <= f.parent.name.removeprefix("date=") <= last]
    if files:
        relation = con.read_parquet([str(f) for f in files], union_by_name=True)
    else:
        relation = con.from_arrow(SCHEMAS[table].empty_table())
    con.register(f"lake_{table}", relation)


R1_SUPPLY = Reconciliation(
    check_id="R1",
    asset="usdai_supply_reconciliation",
    title="Event-derived USDai supply equals totalSupply() at the day's last block",
    sql=f"""
    with {CHAIN_CUTOFF},
    days as (
        select * from main.usdai_supply_reconciliation where partition_date between $min_date and $max_date
    ),
    comparisons as (
        select partition_date, 'usdai:deposit_events' as entity_key,
               onchain_total_supply as expected, supply_from_deposit_events as actual,
               'mints of Deposited (+Harvested) minus burns of Withdrawn' as what
        from days
        union all
        select partition_date, 'usdai:transfer_events', onchain_total_supply, supply_from_transfer_events,
               'mints minus burns of USDai Transfer events'
        from days
    )
    select c.partition_date as check_date, entity_key, '{BLOCKER}' as severity,
           cast(expected as varchar) as expected, cast(actual as varchar) as actual,
           cast(expected - actual as varchar) as difference, 'abs ' || $supply_abs_tolerance as tolerance,
           {within("expected - actual", "expected", "supply_abs_tolerance")} as within_tolerance,
           what || ' vs USDai.totalSupply() (USD)' as description, k.cutoff as cutoffs,
           'usdai_supply_reconciliation@' || cast(c.partition_date as varchar) as lineage
    from comparisons c left join chain_cutoff k using (partition_date)
    order by check_date, entity_key
    """,
)

R2_ONCHAIN_BACKING = Reconciliation(
    check_id="R2",
    asset="reserve_coverage",
    title="USDai supply is backed by the base token on chain; protocol stablecoin balances equal ledger 1020",
    sql=f"""
    with {ADDRESS_BOOK}, {CHAIN_CUTOFF},
    state as (
        select * from main.stg_chain_state
        where partition_date between $min_date and $max_date and field = 'value'
    ),
    supply as (
        select s.partition_date,
               sum(case when s.method in ('totalSupply', 'bridgedSupply') then s.value * b.usd_per_raw_unit end) as needed
        from state s join book b on b.partition_date = s.partition_date and b.address_key = lower(s.contract_address)
        where s.contract_role = 'usdai' group by s.partition_date
    ),
    base_held as (
        select s.partition_date, s.value * t.usd_per_raw_unit as held
        from state s
        join book t on t.partition_date = s.partition_date and t.address_key = lower(s.contract_address)
        join book u on u.partition_date = s.partition_date and u.address_key = lower(s.key) and u.role = 'usdai'
        where s.contract_role = 'base_token' and s.method = 'balanceOf'
    ),
    public_rule as (
        select p.partition_date, 'usdai:public_backing_rule' as entity_key, p.needed as expected,
               coalesce(h.held, 0) as actual,
               'totalSupply + bridgedSupply <= baseToken.balanceOf(USDai) (the public monitor''s rule)' as what
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
        from main.reserve_balances b
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
    select r.partition_date as check_date, r.entity_key, '{BLOCKER}' as severity,
           cast(r.expected as varchar) as expected, cast(r.actual as varchar) as actual,
           cast(r.expected - r.actual as varchar) as difference,
           'shortfall <= ' || $backing_shortfall_tolerance as tolerance,
           coalesce(r.expected - r.actual <= cast($backing_shortfall_tolerance as decimal(38, 18)), false) as within_tolerance,
           r.what as description, k.cutoff as cutoffs, 'chain_state@' || cast(r.partition_date as varchar) as lineage
    from public_rule r left join chain_cutoff k using (partition_date)
    union all
    select b.partition_date, b.entity_key, '{BLOCKER}', cast(b.expected as varchar), cast(b.actual as varchar),
           cast(b.expected - b.actual as varchar), 'abs ' || $stablecoin_abs_tolerance,
           {within("b.expected - b.actual", "b.expected", "stablecoin_abs_tolerance")},
           b.what, k.cutoff, 'chain_state + journal_lines 1020@' || cast(b.partition_date as varchar)
    from balances b left join chain_cutoff k using (partition_date)
    order by 1, 2
    """,
)

R3_CUSTODIAN = Reconciliation(
    check_id="R3",
    asset="reserve_balances",
    title="Custodian cash and T-bill holdings by CUSIP equal ledger 1000 and 1010",
    sql=f"""
    with {STATEMENT_CUTOFF},
    statements as (
        select * from main.stg_custodian_statements where partition_date between $min_date and $max_date
    ),
    statement_days as (select distinct statement_date as partition_date from statements),
    cash as (
        select statement_date as partition_date, sum(amount) as statement_usd
        from statements where record_type = 'closing_cash' group by statement_date
    ),
    holdings as (
        select statement_date as partition_date, cusip, sum(market_value) as statement_usd
        from statements where record_type = 'holding' group by statement_date, cusip
    ),
    -- A statement day's ledger balances are those of the last ledger day through it (reserve_balances holds every
    -- sub-account on every ledger day); the window's days and the one ledger day before it are all that is read.
    ledger_days as (
        select distinct partition_date from main.reserve_balances
        where partition_date <= $max_date and partition_date >= coalesce(
            (select max(partition_date) from main.reserve_balances where partition_date < $min_date), $min_date)
    ),
    as_of as (
        select d.partition_date, max(l.partition_date) as ledger_day
        from statement_days d join ledger_days l on l.partition_date <= d.partition_date
        group by d.partition_date
    ),
    ledger_accounts as (
        select a.partition_date, b.account_code, b.sub_account, b.closing_balance
        from as_of a join main.reserve_balances b
          on b.partition_date = a.ledger_day and b.account_code in ('1000', '1010')
    ),
    ledger_cash as (
        select partition_date, sum(closing_balance) as ledger_usd
        from ledger_accounts where account_code = '1000' group by partition_date
    ),
    ledger_bills as (
        select partition_date, sub_account as cusip, sum(closing_balance) as ledger_usd
        from ledger_accounts where account_code = '1010' group by partition_date, sub_account
    ),
    comparisons as (
        select d.partition_date, 'custodian:cash' as entity_key, coalesce(c.statement_usd, 0) as expected,
               coalesce(l.ledger_usd, 0) as actual, 'statement closing cash vs ledger 1000' as what
        from statement_days d left join cash c using (partition_date) left join ledger_cash l using (partition_date)
        union all
        select coalesce(h.partition_date, l.partition_date), 'cusip:' || coalesce(h.cusip, l.cusip),
               coalesce(h.statement_usd, 0), coalesce(l.ledger_usd, 0),
               'statement market value vs ledger 1010 ' || coalesce(h.cusip, l.cusip)
        from holdings h full outer join (select * from ledger_bills where ledger_usd != 0) l
          on h.partition_date = l.partition_date and h.cusip = l.cusip
    )
    select c.partition_date as check_date, entity_key, '{BLOCKER}' as severity,
           cast(expected as varchar) as expected, cast(actual as varchar) as actual,
           cast(expected - actual as varchar) as difference,
           'abs ' || $custodian_abs_tolerance || ', rel ' || $custodian_rel_tolerance as tolerance,
           {within("expected - actual", "expected", "custodian_abs_tolerance", "custodian_rel_tolerance")} as within_tolerance,
           what as description, k.cutoff as cutoffs, 'custodian_statements@' || cast(c.partition_date as varchar) as lineage
    from comparisons c left join statement_cutoff k using (partition_date)
    order by 1, 2
    """,
)

R4_COVERAGE = Reconciliation(
    check_id="R4",
    asset="reserve_coverage",
    title="Off-chain and on-chain backing covers the USDai held outside the protocol",
    sql=f"""
    with {CHAIN_CUTOFF}, {STATEMENT_CUTOFF}
    select c.partition_date as check_date, 'protocol:liquid_coverage' as entity_key,
           case when liquid_coverage is null or liquid_coverage < cast($coverage_floor as decimal(38, 18))
                then '{BLOCKER}' else '{WARN}' end as severity,
           cast(usdai_outstanding as varchar) as expected,
           cast(liquid_reserves as varchar) as actual,
           cast(liquid_reserves - usdai_outstanding as varchar) as difference,
           '>= ' || $coverage_buffer || 'x (floor ' || $coverage_floor || 'x)' as tolerance,
           coalesce(liquid_coverage >= cast($coverage_buffer as decimal(38, 18)), usdai_outstanding = 0) as within_tolerance,
           'liquid reserves (1000 + 1010 + 1020) vs USDai outstanding (2000); coverage '
               || coalesce(cast(round(liquid_coverage, 6) as varchar), 'n/a') as description,
           concat_ws('; ', k.cutoff, s.cutoff) as cutoffs,
           'reserve_coverage@' || cast(c.partition_date as varchar) as lineage
    from main.reserve_coverage c left join chain_cutoff k using (partition_date)
    left join statement_cutoff s using (partition_date)
    where c.partition_date between $min_date and $max_date
    order by check_date
    """,
)

CHAIN_STATUS_TAPE_STATUSES = """case chain_status
        when 1 then ['current', 'delinquent', 'default']
        when 2 then ['repaid']
        when 3 then ['default', 'liquidated']
        when 4 then ['liquidated']
        else [] end"""

R5_LOANS = Reconciliation(
    check_id="R5",
    asset="trial_balance",
    title="Every on-chain loan is on a lender's tape and vice versa; principal and status agree",
    sql=f"""
    with {CHAIN_CUTOFF}, {ADDRESS_BOOK},
    chain_loans as (
        select partition_date, lower(key) as loan_terms_hash,
               cast(max(case when field = 'status' then value end) as integer) as chain_status,
               max(case when field = 'scaledBalance' then value end) as scaled_balance
        from main.stg_chain_state
        where method = 'loanState' and partition_date between $min_date and $max_date
        group by partition_date, lower(key)
        having max(case when field = 'status' then value end) > 0
    ),
    usdai_units as (select partition_date, usd_per_raw_unit from book where role = 'usdai'),
    tapes as (
        select as_of_date as partition_date, lower(loan_terms_hash) as loan_terms_hash, lender_id, status,
               principal_outstanding, source_file, source_row
        from main.stg_loan_tapes where partition_date between $min_date and $max_date
    ),
    tape_days as (select distinct partition_date from tapes),
    both_sides as (
        select coalesce(c.partition_date, t.partition_date) as partition_date,
               coalesce(c.loan_terms_hash, t.loan_terms_hash) as loan_terms_hash,
               c.chain_status, c.scaled_balance * u.usd_per_raw_unit as chain_principal,
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
               'loanState() vs the lenders'' tapes' as what, source_file, source_row
        from both_sides
        union all
        select partition_date, 'loan:' || loan_terms_hash || ':principal', cast(chain_principal as varchar),
               cast(tape_principal as varchar), cast(chain_principal - tape_principal as varchar),
               'abs ' || $loan_principal_abs_tolerance || ', rel ' || $loan_principal_rel_tolerance,
               {within("chain_principal - tape_principal", "chain_principal", "loan_principal_abs_tolerance", "loan_principal_rel_tolerance")},
               'loanState().scaledBalance vs tape principal_outstanding', source_file, source_row
        from both_sides where chain_status is not null and tape_status is not null
        union all
        select partition_date, 'loan:' || loan_terms_hash || ':status',
               'status ' || cast(chain_status as varchar) || ' -> one of ' || array_to_string({CHAIN_STATUS_TAPE_STATUSES}, '/'),
               tape_status, '', 'exact', list_contains({CHAIN_STATUS_TAPE_STATUSES}, tape_status),
               'loanState().status vs tape status', source_file, source_row
        from both_sides where chain_status is not null and tape_status is not null
    )
    select c.partition_date as check_date, entity_key, '{BLOCKER}' as severity, expected, actual, difference,
           tolerance, ok as within_tolerance, what as description,
           concat_ws('; ', k.cutoff, 'tapes as of ' || cast(c.partition_date as varchar)) as cutoffs,
           coalesce(source_file || ':' || cast(source_row as varchar), 'chain_state@' || cast(c.partition_date as varchar)) as lineage
    from comparisons c left join chain_cutoff k using (partition_date)
    order by 1, 2
    """,
)

R6_NAV = Reconciliation(
    check_id="R6",
    asset="reserve_coverage",
    title="sUSDai totalAssets() equals the ledger's sUSDai holders' claim (2100)",
    sql=f"""
    with {CHAIN_CUTOFF}, {ADDRESS_BOOK},
    nav as (
        select s.partition_date, s.value * u.usd_per_raw_unit as onchain_nav
        from main.stg_chain_state s
        join book u on u.partition_date = s.partition_date and u.role = 'usdai'
        where s.contract_role = 'susdai' and s.method = 'totalAssets' and s.field = 'value'
          and s.partition_date between $min_date and $max_date
    ),
    ledger as (
        select partition_date, -closing_balance as ledger_claim from main.trial_balance
        where account_code = '2100' and partition_date between $min_date and $max_date
    )
    select n.partition_date as check_date, 'susdai:total_assets' as entity_key, '{WARN}' as severity,
           cast(onchain_nav as varchar) as expected, cast(ledger_claim as varchar) as actual,
           cast(onchain_nav - ledger_claim as varchar) as difference,
           'abs ' || $nav_abs_tolerance || ', rel ' || $nav_rel_tolerance as tolerance,
           {within("onchain_nav - ledger_claim", "onchain_nav", "nav_abs_tolerance", "nav_rel_tolerance")} as within_tolerance,
           'sUSDai.totalAssets() vs ledger 2100' as description, k.cutoff as cutoffs,
           'chain_state + trial_balance 2100@' || cast(n.partition_date as varchar) as lineage
    from nav n join ledger l using (partition_date) left join chain_cutoff k using (partition_date)
    order by 1
    """,
)

R7_COLLATERAL_TELEMETRY = Reconciliation(
    check_id="R7",
    asset="trial_balance",
    title="Every performing loan's collateral GPUs reported telemetry for most of the day without XID errors",
    sql=f"""
    with active_on_chain as (
        select partition_date, lower(key) as loan_terms_hash
        from main.stg_chain_state
        where method = 'loanState' and field = 'status' and value = 1
          and partition_date between $min_date and $max_date
    ),
    -- The vault's collateral: loans active on chain that their lender reports performing (a tape-only loan is
    -- R5's orphan; a loan the chain has closed holds no collateral).
    performing as (
        select t.as_of_date as partition_date, t.loan_terms_hash
        from main.stg_loan_tapes t
        join active_on_chain a on a.partition_date = t.as_of_date and a.loan_terms_hash = lower(t.loan_terms_hash)
        where t.status in ('current', 'delinquent') and t.partition_date between $min_date and $max_date
    ),
    collateral as (
        select distinct c.partition_date, c.loan_terms_hash, c.gpu_serial
        from main.stg_loan_collateral c join performing p using (partition_date, loan_terms_hash)
        where c.partition_date between $min_date and $max_date
    ),
    telemetry as (
        select partition_date, gpu_serial, sum(minutes_online) as minutes_online,
               sum(xid_error_samples) as xid_error_samples, max(last_seen) as last_seen
        from main.stg_gpu_telemetry_daily where partition_date between $min_date and $max_date
        group by partition_date, gpu_serial
    )
    select c.partition_date as check_date, 'gpu:' || c.gpu_serial as entity_key, '{WARN}' as severity,
           '>= ' || $gpu_min_online_minutes || ' min online, <= ' || $gpu_max_xid_error_samples || ' XID samples' as expected,
           cast(coalesce(t.minutes_online, 0) as varchar) || ' min online, '
               || cast(coalesce(t.xid_error_samples, 0) as varchar) || ' XID samples' as actual,
           case when t.gpu_serial is null then 'no telemetry' else '' end as difference,
           'thresholds' as tolerance,
           coalesce(t.minutes_online, 0) >= cast($gpu_min_online_minutes as double)
               and coalesce(t.xid_error_samples, 0) <= cast($gpu_max_xid_error_samples as bigint) as within_tolerance,
           'collateral of loan ' || c.loan_terms_hash as description,
           'last sample ' || coalesce(cast(t.last_seen as varchar), 'none') as cutoffs,
           'gpu_telemetry_daily@' || cast(c.partition_date as varchar) || ' + loan_collateral' as lineage
    from collateral c left join telemetry t using (partition_date, gpu_serial)
    order by 1, 2
    """,
)

R9_SOURCES_DELIVERED = Reconciliation(
    check_id="R9",
    asset="trial_balance",
    title="Every source delivered for the day: chain to a confirmed block, the custodian statement, tapes, telemetry",
    sql=f"""
    with {WINDOW_DAYS},
    chain as (
        select partition_date, state_block from main.stg_chain_days where partition_date between $min_date and $max_date
    ),
    statements as (
        select distinct statement_date as partition_date from main.stg_custodian_statements
        where partition_date between $min_date and $max_date
    ),
    tapes as (
        select distinct as_of_date as partition_date, lender_id from main.stg_loan_tapes
        where partition_date between cast($min_date as date) - interval 7 day and $max_date
    ),
    expected_lenders as (
        select distinct d.partition_date, t.lender_id
        from days d join tapes t on t.partition_date between d.partition_date - interval 7 day and d.partition_date - interval 1 day
    ),
    telemetry as (
        select distinct partition_date from main.stg_gpu_telemetry_daily
        where partition_date between $min_date and $max_date
    ),
    collateral_days as (
        select distinct partition_date from main.stg_loan_collateral where partition_date between $min_date and $max_date
    )
    select d.partition_date as check_date, 'source:chain' as entity_key, '{BLOCKER}' as severity,
           'ingested to a confirmed block' as expected,
           case when c.state_block is null then 'missing' else 'block ' || cast(c.state_block as varchar) end as actual,
           '' as difference, 'present' as tolerance, c.state_block is not null as within_tolerance,
           'chain_days row with the block the state was read at' as description, '' as cutoffs,
           'chain_days@' || cast(d.partition_date as varchar) as lineage
    from days d left join chain c using (partition_date)
    union all
    select d.partition_date, 'source:custodian_statement', '{BLOCKER}', 'statement present',
           case when s.partition_date is null then 'missing' else 'present' end, '', 'present',
           s.partition_date is not null, 'custodian statement dated the day', '', 'custodian_statements@' || cast(d.partition_date as varchar)
    from days d left join statements s using (partition_date)
    union all
    select e.partition_date, 'source:loan_tape:' || e.lender_id, '{WARN}', 'tape present',
           case when t.lender_id is null then 'missing' else 'present' end, '', 'present', t.lender_id is not null,
           'a lender that delivered in the previous 7 days delivered today', '', 'loan_tapes@' || cast(e.partition_date as varchar)
    from expected_lenders e left join tapes t using (partition_date, lender_id)
    union all
    select d.partition_date, 'source:telemetry', '{WARN}', 'telemetry present',
           case when t.partition_date is null then 'missing' else 'present' end, '', 'present', t.partition_date is not null,
           'GPU telemetry for a day with collateral on the tapes', '', 'gpu_telemetry_daily@' || cast(d.partition_date as varchar)
    from days d join collateral_days cd using (partition_date) left join telemetry t using (partition_date)
    order by 1, 2
    """,
)

R8_LEDGER_INTEGRITY = Reconciliation(
    check_id="R8",
    asset="journal_lines",
    title="Every journal entry and every day's trial balance sums to zero; every line has lineage",
    sql=f"""
    with window_lines as (
        select * from main.journal_lines where partition_date between $min_date and $max_date
    ),
    days as (
        select distinct partition_date from main.trial_balance
        where partition_date between $min_date and $max_date
    ),
    entries as (
        select partition_date, entry_id, sum(debit) - sum(credit) as imbalance
        from window_lines group by partition_date, entry_id
    ),
    unbalanced as (select * from entries where imbalance != 0),
    per_day as (
        select d.partition_date,
               (select count(*) from unbalanced u where u.partition_date = d.partition_date) as unbalanced_entries,
               (select coalesce(sum(closing_balance), 0) from main.trial_balance t
                 where t.partition_date = d.partition_date) as trial_balance_sum,
               (select count(*) from window_lines l where l.partition_date = d.partition_date
                 and (l.source is null or l.source = '' or l.source_key is null or l.source_key = ''
                      or l.rule_id is null or l.rule_id = '')) as lines_without_lineage
        from days d
    )
    select partition_date as check_date, 'journal:entries' as entity_key, '{BLOCKER}' as severity,
           '0' as expected, cast(unbalanced_entries as varchar) as actual, cast(unbalanced_entries as varchar) as difference,
           '0' as tolerance, unbalanced_entries = 0 as within_tolerance,
           'journal entries whose debits and credits differ' as description, '' as cutoffs,
           'journal_lines@' || cast(partition_date as varchar) as lineage
    from per_day
    union all
    select partition_date, 'trial_balance:sum', '{BLOCKER}', '0', cast(trial_balance_sum as varchar),
           cast(trial_balance_sum as varchar), '0', trial_balance_sum = 0,
           'sum of all closing balances of the day', '', 'trial_balance@' || cast(partition_date as varchar)
    from per_day
    union all
    select partition_date, 'journal:lineage', '{BLOCKER}', '0', cast(lines_without_lineage as varchar),
           cast(lines_without_lineage as varchar), '0', lines_without_lineage = 0,
           'journal lines without source, source_key or rule_id', '', 'journal_lines@' || cast(partition_date as varchar)
    from per_day
    union all
    select partition_date, 'entry:' || entry_id, '{BLOCKER}', '0', cast(imbalance as varchar), cast(imbalance as varchar),
           '0', false, 'unbalanced journal entry', '', 'journal_lines entry_id=' || entry_id
    from unbalanced
    order by 1, 2
    """,
)

H1_SUPPLY_GROWTH = Reconciliation(
    check_id="H1",
    asset="usdai_supply_reconciliation",
    title="USDai supply: no day-over-day rise above the limit (5% as the public monitor), never above the cap",
    sql=f"""
    with supply as (
        select partition_date, onchain_total_supply,
               lag(onchain_total_supply) over (order by partition_date) as previous_supply
        from main.usdai_supply_reconciliation
        where partition_date between cast($min_date as date) - interval 1 day and $max_date
    )
    select partition_date as check_date, 'usdai:daily_rise' as entity_key, '{WARN}' as severity,
           '<= ' || $supply_daily_rise_limit || ' x previous ' || cast(previous_supply as varchar) as expected,
           cast(onchain_total_supply as varchar) as actual,
           cast(onchain_total_supply - previous_supply as varchar) as difference,
           'rise <= ' || $supply_daily_rise_limit as tolerance,
           onchain_total_supply - previous_supply
               <= cast($supply_daily_rise_limit as decimal(18, 12)) * previous_supply as within_tolerance,
           'totalSupply() rise since the previous day' as description, '' as cutoffs,
           'usdai_supply_reconciliation@' || cast(partition_date as varchar) as lineage
    from supply
    where partition_date >= $min_date and previous_supply > 0
    union all
    select partition_date, 'usdai:supply_cap', '{BLOCKER}', '<= ' || $supply_cap_usd, cast(onchain_total_supply as varchar),
           cast(onchain_total_supply - cast($supply_cap_usd as decimal(38, 18)) as varchar), 'cap',
           onchain_total_supply <= cast($supply_cap_usd as decimal(38, 18)), 'totalSupply() against the configured cap',
           '', 'usdai_supply_reconciliation@' || cast(partition_date as varchar)
    from supply
    where partition_date >= $min_date and $supply_cap_usd != ''
    order by 1, 2
    """,
)

# H2 compares a day with the previous day that has rows, looked for this far back (a check never reads all history).
VOLUME_LOOKBACK_DAYS = 7
VOLUME_DAYS = f"partition_date between cast($min_date as date) - interval {VOLUME_LOOKBACK_DAYS} day and $max_date"

H2_VOLUME = Reconciliation(
    check_id="H2",
    asset="trial_balance",
    title="No source's daily volume drops by more than the limit from the previous day",
    sql=f"""
    with volumes as (
        select partition_date, 'loan_tape_rows' as metric, count(*) as rows from main.stg_loan_tapes
        where {VOLUME_DAYS}
        group by 1
        union all
        select partition_date, 'telemetry_gpus', count(distinct gpu_serial) from main.stg_gpu_telemetry_daily
        where {VOLUME_DAYS}
        group by 1
        union all
        select partition_date, 'statement_rows', count(*) from main.stg_custodian_statements
        where {VOLUME_DAYS}
        group by 1
    ),
    with_previous as (
        select partition_date, metric, rows,
               lag(rows) over (partition by metric order by partition_date) as previous_rows
        from volumes
    )
    select partition_date as check_date, 'volume:' || metric as entity_key, '{WARN}' as severity,
           '>= ' || cast(1 - cast($volume_drop_limit as decimal(9, 6)) as varchar) || ' x ' || cast(previous_rows as varchar) as expected,
           cast(rows as varchar) as actual, cast(rows - previous_rows as varchar) as difference,
           'drop <= ' || $volume_drop_limit as tolerance,
           rows >= (1 - cast($volume_drop_limit as decimal(9, 6))) * previous_rows as within_tolerance,
           'rows of the day vs the previous day' as description, '' as cutoffs,
           metric || '@' || cast(partition_date as varchar) as lineage
    from with_previous
    where partition_date between $min_date and $max_date
      and previous_rows >= cast($volume_min_previous_rows as bigint)
    order by 1, 2
    """,
)

H3_FRESHNESS = Reconciliation(
    check_id="H3",
    asset="trial_balance",
    title="Each source's cut-off is close to the end of its day (chain state block, statement, last telemetry sample)",
    sql=f"""
    with cutoffs as (
        select partition_date, 'chain' as source, to_block_time as cutoff from main.stg_chain_days
        where partition_date between $min_date and $max_date
        union all
        select statement_date, 'custodian_statement', max(cut_off_time) from main.stg_custodian_statements
        where partition_date between $min_date and $max_date group by 1
        union all
        select partition_date, 'telemetry', max(last_seen) from main.stg_gpu_telemetry_daily
        where partition_date between $min_date and $max_date group by 1
    )
    select partition_date as check_date, 'freshness:' || source as entity_key, '{WARN}' as severity,
           'within ' || $max_cutoff_lag_minutes || ' min of the day''s end' as expected,
           cast(cutoff as varchar) as actual,
           cast(datediff('minute', cutoff, cast(partition_date as timestamp) + interval 1 day) as varchar) || ' min' as difference,
           'lag <= ' || $max_cutoff_lag_minutes || ' min' as tolerance,
           datediff('minute', cutoff, cast(partition_date as timestamp) + interval 1 day)
               <= cast($max_cutoff_lag_minutes as bigint) as within_tolerance,
           'the source''s own cut-off for the day' as description, cast(cutoff as varchar) as cutoffs,
           source || '@' || cast(partition_date as varchar) as lineage
    from cutoffs
    where partition_date between $min_date and $max_date and cutoff is not null
    order by 1, 2
    """,
)

H4_SCHEMA_DRIFT = Reconciliation(
    check_id="H4",
    asset="trial_balance",
    title="No input file carries columns its source's layout does not read (schema drift)",
    sql=f"""
    select partition_date as check_date, 'schema:' || source || ':' || file_name as entity_key, '{WARN}' as severity,
           'only the layout''s columns' as expected, unexpected_columns as actual,
           'unexpected columns: ' || unexpected_columns as difference, 'none' as tolerance,
           unexpected_columns = '' as within_tolerance,
           'headers no column of the ' || source || ' layout reads: their data is not ingested' as description,
           '' as cutoffs, 'input_files ' || file_name || ' sha256 ' || sha256 as lineage
    from main.stg_input_files
    where partition_date between $min_date and $max_date
    order by 1, 2
    """,
)

H5_QUARANTINE = Reconciliation(
    check_id="H5",
    asset="trial_balance",
    title="Every quarantined row and every rejected file is an exception someone must chase",
    sql=f"""
    select partition_date as check_date, 'quarantine:' || source || ':' || file_name as entity_key,
           '{WARN}' as severity, '0 rows quarantined' as expected,
           cast(rows_quarantined as varchar) || ' of ' || cast(rows_in as varchar) || ' rows quarantined' as actual,
           quarantine_reasons as difference, 'none' as tolerance, rows_quarantined = 0 as within_tolerance,
           'rows of the file held back (quarantine/' || source || '); the file''s good rows went through' as description,
           '' as cutoffs, 'input_files ' || file_name || ' sha256 ' || sha256 as lineage
    from main.stg_input_files
    where partition_date between $min_date and $max_date
    union all
    select partition_date, 'rejected_file:' || file_name || ':' || sha256, '{WARN}', 'routed to a source',
           'rejected', coalesce(problem, '') || ': ' || coalesce(problem_detail, ''), 'none', false,
           'a file in the inbox no source could take: archived as rejected', '',
           'inbox_receipts ' || coalesce(archive_path, file_name)
    from lake_inbox_receipts
    where partition_date between $min_date and $max_date and status = 'rejected'
    order by 1, 2
    """,
    lake_tables=("inbox_receipts",),
)

H6_CHAIN_REORGS = Reconciliation(
    check_id="H6",
    asset="usdai_supply_reconciliation",
    title="A chain reorganisation reached an ingested day: the day was re-ingested (or withdrawn) and restated",
    sql=f"""
    with reorgs as (
        select partition_date, reorg_id, max(fork_block) as fork_block, max(depth) as depth, max(action) as action,
               max(detected_at) as detected_at
        from lake_chain_reorgs
        where partition_date between $min_date and $max_date
        group by partition_date, reorg_id
    ),
    chain_days as (
        select partition_date from main.stg_chain_days where partition_date between $min_date and $max_date
        union
        select partition_date from reorgs
    )
    select d.partition_date as check_date, 'chain_reorg:' || coalesce(r.reorg_id, 'none') as entity_key,
           '{WARN}' as severity, 'blocks as ingested' as expected,
           coalesce('replaced from block ' || cast(r.fork_block as varchar) || ' (depth ' || cast(r.depth as varchar) || ')',
                    'unchanged') as actual,
           coalesce(r.action, '') as difference, 'none' as tolerance, r.reorg_id is null as within_tolerance,
           'the day''s chain data changed after it was ingested; the ledger restates it with reversing entries' as description,
           coalesce('detected ' || cast(r.detected_at as varchar), '') as cutoffs,
           'chain_reorgs ' || coalesce(r.reorg_id, '') || '@' || cast(d.partition_date as varchar) as lineage
    from chain_days d left join reorgs r using (partition_date)
    order by 1, 2
    """,
    lake_tables=("chain_reorgs",),
)

RECONCILIATIONS = [
    R1_SUPPLY, R2_ONCHAIN_BACKING, R3_CUSTODIAN, R4_COVERAGE, R5_LOANS, R6_NAV, R7_COLLATERAL_TELEMETRY,
    R8_LEDGER_INTEGRITY, R9_SOURCES_DELIVERED, H1_SUPPLY_GROWTH, H2_VOLUME, H3_FRESHNESS, H4_SCHEMA_DRIFT,
    H5_QUARANTINE, H6_CHAIN_REORGS,
]
