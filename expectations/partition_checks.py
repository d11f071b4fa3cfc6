"""A check on every asset that has none of its own, so the UI shows each asset's health.

- a lake table (Parquet): every day of the run's window has its partition, with the declared schema (docs/lake.md)
  and only rows of that day;
- a warehouse model (dbt) without dbt tests: no row of the window lacks its `partition_date`;
- the attestation: each day's HTML and PDF are on disk, whole, and name the day.
The reconciliation checks (expectations/) and dbt's tests stay the checks of the assets that have them.
"""

from collections.abc import Sequence

import dagster as dg

from foundation.partitions import daily_partitions, evaluate_per_day, window_days
from foundation.pools import WAREHOUSE_POOL
from foundation.home_resource import BackedHome
from foundation.lake import SCHEMAS, Lake


def _lake_partition_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(table), name="day_partition_written", partitions_def=daily_partitions,
                    description=f"Every day of the run has lake/{table}/date=DAY/part-0.parquet with the schema "
                                "of docs/lake.md and only rows of that day.")
    def check(context: dg.AssetCheckExecutionContext, backed_home: BackedHome) -> dg.AssetCheckResult:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        lake = Lake(backed_home.paths)
        problems = []
        for day in window_days(context):
            path = lake.partition_path(table, day)
            if not path.exists():
                problems.append(f"{day}: no partition")
                continue
            schema = pq.read_schema(path)
            if not schema.remove_metadata().equals(SCHEMAS[table].remove_metadata()):
                problems.append(f"{day}: schema differs from docs/lake.md")
                continue
            dates = pq.read_table(path, columns=["partition_date"]).column("partition_date")
            if len(dates) and (dates.null_count or not pc.all(pc.equal(dates, pa.scalar(day, dates.type))).as_py()):
                problems.append(f"{day}: rows of another day")
        _per_day(context, dg.AssetCheckKey(dg.AssetKey(table), "day_partition_written"), problems)
        return dg.AssetCheckResult(passed=not problems, metadata={
            "days": len(window_days(context)), "problems": "; ".join(problems[:20]) or "none"})

    return check


def _warehouse_rows_dated_check(model: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(model), name="window_rows_dated", partitions_def=daily_partitions,
                    pool=WAREHOUSE_POOL,
                    description=f"No row of {model} in the warehouse lacks its partition_date (a table: every "
                                "row; a view: its rows of the window, and the undated rows of the lake it reads "
                                "are refused by the lake's day_partition_written checks).")
    def check(context: dg.AssetCheckExecutionContext, backed_home: BackedHome) -> dg.AssetCheckResult:
        import duckdb

        days = window_days(context)
        with duckdb.connect(str(backed_home.paths.warehouse), read_only=True) as con:
            kind = con.execute("select table_type from information_schema.tables where table_schema = 'main' "
                               "and table_name = ?", [model]).fetchone()
            # A table's null count is read from its column statistics whatever its size; a view would be computed
            # over all history, a cost that grows every day: it is read over the window only.
            scope = "" if kind and kind[0] == "BASE TABLE" else "where partition_date between $first and $last"
            undated, in_window = con.execute(
                f"""select count(*) filter (where partition_date is null),
                           count(*) filter (where partition_date between $first and $last)
                    from main.{model} {scope}""", {"first": days[0], "last": days[-1]}).fetchall()[0]
        evaluate_per_day(context, dg.AssetCheckKey(dg.AssetKey(model), "window_rows_dated"), days, undated == 0)
        return dg.AssetCheckResult(passed=undated == 0, metadata={"undated_rows": undated,
                                                                  "rows_in_window": in_window})

    return check


@dg.asset_check(asset=dg.AssetKey("reserve_attestation"), name="reports_written", partitions_def=daily_partitions,
                description="Each day's attestation is on disk as HTML and PDF, both complete and naming the day.")
def attestation_reports_written(context: dg.AssetCheckExecutionContext,
                                backed_home: BackedHome) -> dg.AssetCheckResult:
    problems = []
    for day in window_days(context):
        html_path, pdf_path = backed_home.paths.attestation_paths(day)
        if not html_path.exists() or not pdf_path.exists():
            problems.append(f"{day}: missing {'HTML' if not html_path.exists() else 'PDF'}")
            continue
        pdf = pdf_path.read_bytes()
        if not pdf.startswith(b"%PDF-") or b"%%EOF" not in pdf[-64:]:
            problems.append(f"{day}: PDF incomplete")
        if f"measurement date <strong>{day.isoformat()}</strong>" not in html_path.read_text(encoding="utf-8"):
            problems.append(f"{day}: HTML does not name the day")
    _per_day(context, dg.AssetCheckKey(dg.AssetKey("reserve_attestation"), "reports_written"), problems)
    return dg.AssetCheckResult(passed=not problems, metadata={"problems": "; ".join(problems) or "none"})


def _per_day(context, check_key: dg.AssetCheckKey, problems: list[str]) -> None:
    """Each problem starts with its day (`2026-01-03: no partition`): the other days of the window passed."""
    days = window_days(context)
    failing = {day: dg.AssetCheckSeverity.ERROR for day in days if any(p.startswith(f"{day}:") for p in problems)}
    evaluate_per_day(context, check_key, days, not problems, failing)


def checks_for_unchecked_assets(assets: Sequence, existing_checks: Sequence) -> list[dg.AssetChecksDefinition]:
    """One check for each materialisable, daily asset that no other check covers."""
    checked = {key.asset_key for checks in existing_checks for key in checks.check_keys}
    for asset in assets:
        checked |= {key.asset_key for key in getattr(asset, "check_keys", ())}
    result: list[dg.AssetChecksDefinition] = []
    for asset in assets:
        for spec in getattr(asset, "specs", ()):
            if spec.key in checked or spec.partitions_def != daily_partitions:
                continue
            name = spec.key.to_user_string()
            if name in SCHEMAS:
                result.append(_lake_partition_check(name))
            elif name == "reserve_attestation":
                result.append(attestation_reports_written)
            elif "dbt" in (spec.kinds or set()):
                result.append(_warehouse_rows_dated_check(name))
    return result
