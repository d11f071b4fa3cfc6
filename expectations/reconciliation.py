"""Reconciliation checks R1, R4 and R8 of DESIGN.md, as exact SQL over the warehouse.

Each check yields evaluation rows (one per day and entity) with exact decimal strings and a `within_tolerance` flag
computed in DECIMAL arithmetic by DuckDB. Great Expectations validates the rows; failing rows become exceptions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import pandas as pd

from expectations.exceptions import BLOCKER, WARN, Break

EVALUATION_COLUMNS = [
    "check_date", "entity_key", "severity", "expected", "actual", "difference", "tolerance", "within_tolerance",
    "description", "lineage",
]


@dataclass(frozen=True)
class ReconciliationPolicy:
    """Tolerances and thresholds; every cross-source comparison states its own."""

    # R1 compares integers in token units: any difference is a break.
    supply_tolerance_usd: str = "0"
    # R4: below 100% is a blocker; below the buffer a warning.
    coverage_floor: str = "1.0"
    coverage_buffer: str = "1.02"


@dataclass(frozen=True)
class Reconciliation:
    check_id: str
    asset: str
    title: str
    sql: str
    key_columns: list[str] = field(default_factory=lambda: ["check_date", "entity_key"])

    def evaluate(self, con: duckdb.DuckDBPyConnection, days: list[date], policy: ReconciliationPolicy) -> pd.DataFrame:
        params = {
            "min_date": min(days), "max_date": max(days),
            "supply_tolerance": policy.supply_tolerance_usd,
            "coverage_floor": policy.coverage_floor, "coverage_buffer": policy.coverage_buffer,
        }
        # DuckDB refuses named parameters a statement doesn't use.
        used = {name: value for name, value in params.items() if f"${name}" in self.sql}
        frame = con.execute(self.sql, used).df()
        return frame[EVALUATION_COLUMNS].reset_index(drop=True)

    def breaks(self, rows: pd.DataFrame, failing_indexes: list[int]) -> list[Break]:
        failing = rows.loc[failing_indexes] if failing_indexes else rows.iloc[0:0]
        return [
            Break(
                check_id=self.check_id,
                check_date=pd.Timestamp(r.check_date).date(),
                entity_key=str(r.entity_key),
                severity=str(r.severity),
                expected=str(r.expected),
                actual=str(r.actual),
                difference=str(r.difference),
                tolerance=str(r.tolerance),
                description=str(r.description),
                lineage=str(r.lineage),
            )
            for r in failing.itertuples()
        ]


R1_SUPPLY = Reconciliation(
    check_id="R1",
    asset="usdai_supply_reconciliation",
    title="Event-derived USDai supply equals totalSupply() at the day's last block",
    sql=f"""
    with days as (
        select * from main.usdai_supply_reconciliation
        where partition_date between $min_date and $max_date
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
    select partition_date as check_date, entity_key, '{BLOCKER}' as severity,
           cast(expected as varchar) as expected, cast(actual as varchar) as actual,
           cast(expected - actual as varchar) as difference, cast($supply_tolerance as varchar) as tolerance,
           coalesce(abs(expected - actual) <= cast($supply_tolerance as decimal(38, 18)), false) as within_tolerance,
           what || ' vs USDai.totalSupply() (USD)' as description,
           'usdai_supply_reconciliation@' || cast(partition_date as varchar) as lineage
    from comparisons
    order by check_date, entity_key
    """,
)

R4_COVERAGE = Reconciliation(
    check_id="R4",
    asset="reserve_coverage",
    title="Off-chain and on-chain backing covers the USDai held outside the protocol",
    sql=f"""
    select partition_date as check_date, 'protocol:liquid_coverage' as entity_key,
           case when liquid_coverage is null or liquid_coverage < cast($coverage_floor as decimal(38, 18))
                then '{BLOCKER}' else '{WARN}' end as severity,
           cast(usdai_outstanding as varchar) as expected,
           cast(liquid_reserves as varchar) as actual,
           cast(liquid_reserves - usdai_outstanding as varchar) as difference,
           '>= ' || $coverage_buffer || 'x (floor ' || $coverage_floor || 'x)' as tolerance,
           coalesce(liquid_coverage >= cast($coverage_buffer as decimal(38, 18)), usdai_outstanding = 0) as within_tolerance,
           'liquid reserves (1000 + 1010 + 1020) vs USDai outstanding (2000); coverage '
               || coalesce(cast(round(liquid_coverage, 6) as varchar), 'n/a') as description,
           'reserve_coverage@' || cast(partition_date as varchar) as lineage
    from main.reserve_coverage
    where partition_date between $min_date and $max_date
    order by check_date
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
           'journal entries whose debits and credits differ' as description,
           'journal_lines@' || cast(partition_date as varchar) as lineage
    from per_day
    union all
    select partition_date, 'trial_balance:sum', '{BLOCKER}', '0', cast(trial_balance_sum as varchar),
           cast(trial_balance_sum as varchar), '0', trial_balance_sum = 0,
           'sum of all closing balances of the day', 'trial_balance@' || cast(partition_date as varchar)
    from per_day
    union all
    select partition_date, 'journal:lineage', '{BLOCKER}', '0', cast(lines_without_lineage as varchar),
           cast(lines_without_lineage as varchar), '0', lines_without_lineage = 0,
           'journal lines without source, source_key or rule_id', 'journal_lines@' || cast(partition_date as varchar)
    from per_day
    union all
    select partition_date, 'entry:' || entry_id, '{BLOCKER}', '0', cast(imbalance as varchar), cast(imbalance as varchar),
           '0', false, 'unbalanced journal entry', 'journal_lines entry_id=' || entry_id
    from unbalanced
    order by 1, 2
    """,
)

RECONCILIATIONS = [R1_SUPPLY, R4_COVERAGE, R8_LEDGER_INTEGRITY]
