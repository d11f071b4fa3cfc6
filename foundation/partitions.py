"""Every source is partitioned by UTC day: the block's day, the tape's as-of date, the sample's day, the statement date."""
import os
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import dagster as dg

# Early enough for USDai's mainnet history and any sandbox start date.
PARTITIONS_START = "2025-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC", end_offset=0)


def window_days(context) -> list[date]:
    """The UTC days of a run's partition window (asset or check context), in order."""
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    return [start + timedelta(days=i) for i in range((end - start).days)]


# Parallel backfills: with BACKED_BACKFILL_PARTITIONS_PER_RUN=N in the environment of the code location,
# a backfill materialises the off-chain sources N days per run, and the run queue launches those runs side by side.
# Only they: each of their days reads nothing but its own inbox files. The chain's ingestion reads the loans of the
# days before it (its state reads) and the ledger carries balances from day to day, so both stay one run in order,
# and `orchestration.backfills` runs the ledger once every day is ingested. Unset: one run per backfill.
PARTITIONS_PER_RUN_ENV = "BACKED_BACKFILL_PARTITIONS_PER_RUN"


def partitions_per_run() -> int | None:
    value = os.environ.get(PARTITIONS_PER_RUN_ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{PARTITIONS_PER_RUN_ENV}={value!r}: expected a whole number of days, 1 or more")
    return int(value)


def offchain_backfill_policy() -> dg.BackfillPolicy:
    """The backfill policy of the off-chain ingestion assets: one run per backfill, or N days per run."""
    per_run = partitions_per_run()
    return dg.BackfillPolicy.single_run() if per_run is None else dg.BackfillPolicy.multi_run(per_run)


def evaluate_per_day(context, check_key: dg.AssetCheckKey, days: Sequence[date], passed: bool,
                     failing: Mapping[date, dg.AssetCheckSeverity] | None = None,
                     metadata: Mapping[str, object] | None = None) -> None:
    """Record a check run over several days (a range run: the demo, a backfill) against each of those days.

    Dagster records a range run's check result once, with no partition, and leaves the evaluation it planned for
    each day without a result: the UI's checks list then shows those days' checks as Skipped while the check's own
    page shows the run's result. Each day gets its evaluation here: passed when the check passed, or when `failing`
    (the days it failed on, with their severity) does not name it. A one-day run needs nothing: Dagster records
    its result against its day."""
    execution = getattr(context, "op_execution_context", context)
    if execution.has_partition_key:
        return
    for day in days:
        day_passed = passed or (failing is not None and day not in failing)
        execution.log_event(dg.AssetCheckEvaluation(
            asset_key=check_key.asset_key, check_name=check_key.name, passed=day_passed, partition=day.isoformat(),
            severity=(failing or {}).get(day, dg.AssetCheckSeverity.ERROR),
            metadata={**(metadata or {}), "run_window": f"{days[0]} .. {days[-1]}"}))
