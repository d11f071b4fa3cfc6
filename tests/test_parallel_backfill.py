"""Issue 9, concurrency: a 30-day backfill whose partitions run in parallel, on a Dagster instance stored in
PostgreSQL, gives exactly what the same backfill run serially gives, and no run meets a DuckDB lock.

Real anvil (30 simulated days), real Dagster runs launched by the run queue from the code location of
workspace.yaml, real dbt on DuckDB, a real PostgreSQL database (created for the test and dropped after). The
serial backfill runs on the default SQLite instance with one run at a time; the parallel one, on a copy of the same
home, ingests the off-chain sources BACKED_BACKFILL_PARTITIONS_PER_RUN days per run, several runs at once, beside
the chain's run, then builds the ledger (orchestration.backfills: two stages).
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from foundation.home import DataHome

START = date(2026, 1, 1)
DAYS = 30
LAST = START + timedelta(days=DAYS - 1)
CLI = Path(sys.executable).parent / "backed"
# What a backfill of the daily pipeline ingests and builds (the checks' views with the marts they check, as the
# ledger job builds them); the attestations (one run per day either way, their
# concurrency is that of any backfill) are left out to keep the test's wall time down.
SELECT = "group:chain or group:loan_books or group:telemetry or group:custodian or group:staging " \
         "or group:ledger_postings or group:ledger or group:reconciliation"
PARTITIONS_PER_RUN = 10  # 3 runs of the off-chain sources side by side, beside the chain's run, on 2 cores
# Wall-clock columns: when a file reached the inbox differs between any two runs, serial or not.
WALL_CLOCK_COLUMNS = {"received_at", "superseded_received_at"}
# A lock error of any kind ("lock" as a word: not the "blocked" of a run waiting for its pool).
LOCK = re.compile(r"\block\b", re.IGNORECASE)


def backfill(home: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([str(CLI), "--home", str(home), "backfill", "--from", START.isoformat(),
                           "--to", LAST.isoformat(), "--select", SELECT],
                          capture_output=True, text=True, timeout=600, env=env)
    return done, time.monotonic() - started


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DAGSTER_HOME", "BACKED_HOME", "BACKED_PROFILE", "BACKED_RPC_URL", "BACKED_RPC_URLS",
                        "BACKED_DAGSTER_PG_URL", "BACKED_BACKFILL_PARTITIONS_PER_RUN", "BACKED_MAX_CONCURRENT_RUNS")}
    return {**env, **extra}


def instance_of(monkeypatch, home: Path) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return dg.DagsterInstance.get()


def lake_tables(home: Path) -> dict[tuple[str, str], list[tuple]]:
    """(table, partition) → its rows, sorted, wall-clock columns left out; every Parquet partition of the lake."""
    tables = {}
    for path in sorted((home / "lake").glob("*/date=*/*.parquet")):
        table = pq.read_table(path)
        table = table.select([name for name in table.column_names if name not in WALL_CLOCK_COLUMNS])
        rows = sorted((tuple(repr(value) for value in row.values()) for row in table.to_pylist()))
        tables[(path.parent.parent.name, f"{path.parent.name}/{path.name}")] = [tuple(table.column_names), *rows]
    return tables


def ledger(home: Path) -> tuple[str, int, list[tuple]]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        lines = con.execute("select * from main.journal_lines order by entry_id, line_no").fetchall()
        coverage = con.execute("select * from main.reserve_coverage order by partition_date").fetchall()
    digest = hashlib.sha256("\n".join(repr(line) for line in lines).encode()).hexdigest()
    return digest, len(lines), coverage


def step_failures(instance: dg.DagsterInstance) -> list[str]:
    """Each failed step's error, to say why a run failed."""
    return [f"run {run.run_id[:8]}: {record.event_log_entry.message}"
            for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE]))
            for record in instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records]


def failures_mentioning_locks(instance: dg.DagsterInstance) -> list[str]:
    found = []
    for run in instance.get_runs():
        for kind in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_UP_FOR_RETRY,
                     dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.ENGINE_EVENT):
            for record in instance.get_records_for_run(run.run_id, of_type=kind).records:
                entry = record.event_log_entry
                text = " ".join(filter(None, [entry.message, entry.user_message,
                                              str(getattr(entry.dagster_event, "event_specific_data", "") or "")]))
                if LOCK.search(text):  # DuckDB's: 'IO Error: Could not set lock on file ...: Conflicting lock ...'
                    found.append(f"run {run.run_id[:8]} {kind.value}: {text[:300]}")
    return found


def overlapping_partition_runs(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """Pairs of runs over different days that were in progress at the same time."""
    spans = []
    for record in instance.get_run_records():
        tags = record.dagster_run.tags
        days = tags.get("dagster/partition") or (
            f"{tags.get('dagster/asset_partition_range_start')}..{tags.get('dagster/asset_partition_range_end')}")
        if record.start_time and record.end_time:
            spans.append((record.start_time, record.end_time, days))
    return [(a[2], b[2]) for i, a in enumerate(spans) for b in spans[i + 1:]
            if a[2] != b[2] and a[0] < b[1] and b[0] < a[1]]


# minutes of two 30-day backfills: run by `make reliability`, not by `make test`
@pytest.mark.long
@pytest.mark.fault("runs racing: a 30-day backfill with parallel partitions on a PostgreSQL-backed instance")
def test_a_parallel_backfill_on_postgres_gives_exactly_the_serial_result(tmp_path, postgres_url, reliability,
                                                                         monkeypatch):
    from sandbox.anvil import AnvilNode
    from sandbox.simulator import genesis_timestamp, simulate

    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for

    serial_home, parallel_home = tmp_path / "serial", tmp_path / "parallel"
    with AnvilNode(genesis_timestamp(START)) as node:
        simulate(serial_home, node.rpc_url, days=DAYS, seed=7, start=START)
        # The chart of accounts (dbt seeds, not partitioned) before either backfill, as `backed demo` loads it.
        monkeypatch.setenv("DAGSTER_HOME", str(serial_home / "dagster"))
        monkeypatch.setenv("BACKED_HOME", str(serial_home))
        for name in ("BACKED_DAGSTER_PG_URL", "BACKED_BACKFILL_PARTITIONS_PER_RUN", "BACKED_MAX_CONCURRENT_RUNS"):
            monkeypatch.delenv(name, raising=False)
        seeds = build_definitions(serial_home, "sandbox").resolve_job_def("reference_data").execute_in_process(
            instance=instance_for(serial_home), raise_on_error=False)
        assert seeds.success
        shutil.copytree(serial_home, parallel_home)

        serial, serial_s = backfill(serial_home, clean_env(BACKED_MAX_CONCURRENT_RUNS="1"))
        assert serial.returncode == 0, serial.stderr[-4000:]
        parallel, parallel_s = backfill(parallel_home, clean_env(
            BACKED_DAGSTER_PG_URL=postgres_url, BACKED_BACKFILL_PARTITIONS_PER_RUN=str(PARTITIONS_PER_RUN)))
        assert parallel.returncode == 0, parallel.stderr[-4000:]
    print(f"serial backfill {serial_s:.0f}s, parallel backfill {parallel_s:.0f}s")

    # The parallel instance is the PostgreSQL database, and its partitions did run side by side.
    # (the CLI was given the bare postgresql:// URL and named the psycopg2 driver itself: orchestration.instance)
    monkeypatch.setenv("BACKED_DAGSTER_PG_URL", postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    assert "postgres" in (parallel_home / "dagster" / "dagster.yaml").read_text()
    assert postgres_url not in (parallel_home / "dagster" / "dagster.yaml").read_text()
    instance = instance_of(monkeypatch, parallel_home)
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    # two stages: the ingestion, then the ledger once every day was ingested (orchestration.backfills)
    assert "ingested every day: the ledger and attestations follow as backfill" in parallel.stderr, \
        parallel.stderr[-3000:]
    stages = instance.get_backfills()
    assert len(stages) == 2 and stages[0].tags.get("backed/previous_stage") == stages[1].backfill_id
    overlaps = overlapping_partition_runs(instance)
    assert overlaps, "no two runs over different days were in progress at the same time"
    runs = instance.get_runs()
    assert len(runs) > 3 and all(run.status == dg.DagsterRunStatus.SUCCESS for run in runs), \
        [(run.run_id[:8], run.status) for run in runs] + step_failures(instance)
    assert not failures_mentioning_locks(instance)
    monkeypatch.delenv("BACKED_DAGSTER_PG_URL")
    assert not failures_mentioning_locks(instance_of(monkeypatch, serial_home))

    # The lake: every table's every partition, row for row.
    serial_lake, parallel_lake = lake_tables(serial_home), lake_tables(parallel_home)
    serial_rows = sum(len(rows) - 1 for rows in serial_lake.values())
    lost = sum(len(set(rows) - set(parallel_lake.get(key, []))) for key, rows in serial_lake.items())
    extra = sum(len(set(rows) - set(serial_lake.get(key, []))) for key, rows in parallel_lake.items())
    reliability.compared(rows=serial_rows, lost=lost, duplicates=extra)
    assert {table for table, _ in serial_lake} >= {"chain_events", "chain_state", "loan_tapes", "gpu_telemetry_daily",
                                                    "custodian_statements", "collateral_gpu_daily"}
    assert sorted(parallel_lake) == sorted(serial_lake)
    differing = [key for key in serial_lake if serial_lake[key] != parallel_lake[key]]
    assert not differing, differing[:10]

    # The ledger: the journal line for line, in order, and the coverage of every day.
    serial_digest, serial_lines, serial_coverage = ledger(serial_home)
    parallel_digest, parallel_lines, parallel_coverage = ledger(parallel_home)
    assert serial_lines > 0 and len(serial_coverage) == DAYS
    assert (parallel_digest, parallel_lines) == (serial_digest, serial_lines)
    assert parallel_coverage == serial_coverage
