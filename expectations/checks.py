"""The reconciliation checks as Dagster asset checks on the ledger marts.

Each check selects every day of the run's partition window from its dbt model (built by the run's `dbt build`, with
the deployment's tolerances), validates the rows with Great Expectations,
records breaks in the exceptions table and fails (blocking downstream assets in the run) when a blocker break is
open. Checks write the warehouse, so they take the warehouse pool.
"""
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from expectations.exceptions import BLOCKER, record_evaluation
from expectations.gx_validation import validate_reconciliation_rows
from expectations.reconciliation import RECONCILIATIONS, Reconciliation
from foundation.money import plain
from foundation.partitions import daily_partitions, evaluate_per_day, window_days
from foundation.pools import WAREHOUSE_POOL
from foundation.home_resource import BackedHome


def run_reconciliation(
    recon: Reconciliation, con: duckdb.DuckDBPyConnection, days: list[date], run_id: str,
    docs_dir: Path | None = None,
) -> tuple[bool, dg.AssetCheckSeverity, dict, dict[date, dg.AssetCheckSeverity]]:
    """The check over `days`: whether it passed, its severity, the result's metadata, and the days with breaks (ERROR
    on a day with a blocker break, WARN on one with warnings only)."""
    rows = recon.evaluate(con, days)
    outcome = validate_reconciliation_rows(recon.check_id, rows, recon.key_columns, docs_dir)
    breaks = recon.breaks(rows, outcome.failing_row_indexes)
    counts = record_evaluation(con, recon.check_id, days, breaks, run_id)
    blockers = int((breaks["severity"] == BLOCKER).sum())
    severity = dg.AssetCheckSeverity.ERROR if blockers else dg.AssetCheckSeverity.WARN
    metadata = {
        "days": f"{days[0]} .. {days[-1]}",
        "model": recon.model,
        "rows_evaluated": len(rows),
        "gx_expectations": outcome.evaluated_expectations,
        "gx_failed_expectations": ", ".join(outcome.failed_expectations) or "none",
        "breaks": len(breaks),
        "blocker_breaks": blockers,
        **{f"exceptions_{k}": v for k, v in counts.items()},
    }
    if outcome.docs_url:
        metadata["data_docs"] = dg.MetadataValue.url(outcome.docs_url)
    if len(breaks):
        metadata["first_breaks"] = dg.MetadataValue.md(
            "\n".join(
                # the warehouse's 18 places: 500, not 500.000000000000000000
                f"- {b.check_date} `{b.entity_key}` expected {plain(b.expected)}, actual {plain(b.actual)}, "
                f"difference {plain(b.difference)}"
                for b in breaks.head(20).itertuples()
            )
        )
    failing = {day: dg.AssetCheckSeverity.ERROR if (day_breaks["severity"] == BLOCKER).any()
               else dg.AssetCheckSeverity.WARN
               for day, day_breaks in breaks.groupby("check_date")} if len(breaks) else {}
    return outcome.success, severity, metadata, {_as_date(day): level for day, level in failing.items()}


def _as_date(value) -> date:
    return value.date() if hasattr(value, "date") and callable(value.date) else value


def build_reconciliation_check(recon: Reconciliation) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=dg.AssetKey(recon.asset),
        name=recon.name,
        # The model the check selects its rows from.
        additional_deps=[dg.AssetKey(recon.model)],
        description=f"{recon.check_id}: {recon.title}",
        blocking=True,
        partitions_def=daily_partitions,
        pool=WAREHOUSE_POOL,
    )
    def reconciliation_check(context: dg.AssetCheckExecutionContext, backed_home: BackedHome) -> dg.AssetCheckResult:
        days = window_days(context)
        home = backed_home.paths
        with duckdb.connect(str(home.warehouse)) as con:
            passed, severity, metadata, failing = run_reconciliation(
                recon, con, days, context.run.run_id, docs_dir=home.data_docs)
        evaluate_per_day(context, dg.AssetCheckKey(dg.AssetKey(recon.asset), recon.name), days, passed,
                         failing if failing or passed else None, {"model": recon.model})
        return dg.AssetCheckResult(passed=passed, severity=severity, metadata=metadata)

    return reconciliation_check


reconciliation_checks = [build_reconciliation_check(r) for r in RECONCILIATIONS]
