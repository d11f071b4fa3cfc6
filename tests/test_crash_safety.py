"""Crash safety: `kill -9` of the pipeline during ingestion and during the dbt build, then a re-run.

A copy of the clean 3-day demo (session fixture `clean_demo`), its chain brought back on a fresh anvil
(tests/demo_copies.py). The pipeline of the demo's last day (the Definitions' job `daily_pipeline`, executed
in-process on the instance in BACKED_HOME/dagster as `backed demo` executes its jobs, dbt a subprocess of the run)
runs in a process of its own, killed with SIGKILL with all its children (the process group: the run and its dbt):

1. during ingestion: the day's lake partitions are removed first, and the run is killed as soon as the first of
   them is written again. Every partition then visible is complete (reads back, the same bytes as the demo's);
   the chain's day is not marked complete (`chain_days`) while any of its chain tables is missing; what was being
   written is hidden (`.part-0.parquet.<random>.tmp`, which neither dbt's glob nor the Lake reads).
2. the re-run, during the dbt build: killed as dbt starts the journal (`journal_lines`). By then it has rebuilt
   the lake as the demo's, byte for byte; the warehouse opens (no lock left behind) and the journal has no
   duplicated line and is the demo's (a model's delete-and-insert is one transaction).
3. a second re-run, `backed demo`'s `run_pipeline` for the day, completes: the lake, the journal, the trial
   balance and the attestation are the demo's, byte for byte; the two killed runs are marked failed and hold no
   slot of the warehouse pool (the one killed in dbt held it: without orchestration/crashed_runs.py the re-run
   waited for ever).

The scenarios take minutes (three pipeline processes): `make reliability` runs them, `make test` the rest.
"""
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import DAYS, START
from foundation.home import DataHome
from demo_copies import (JOURNAL_ORDER, copy_of_demo, is_temporary, lake_files, point_at, revived_chain,
                         table_digest)

REPO = Path(__file__).resolve().parent.parent
DAY = START.replace(day=DAYS)
# Appended registers, not rebuilt from anything: a re-run of the day never rewrites them.
REGISTERS = {"inbox_receipts", "chain_reorgs"}
CHAIN_TABLES = {"chain_events", "chain_logs_unknown", "chain_state", "chain_blocks", "chain_address_book", "chain_days"}
RUN_TIMEOUT_S = 300

# The day's pipeline in a process of its own. `daily`: the Definitions' job of a whole day (every source, the ledger
# and its checks, the attestation), executed in-process and tagged with its process as `backed demo` and
# `backed attest` execute theirs; `demo`: `backed demo`'s own `run_pipeline` (the seeds, then the day), which first
# releases what runs of dead processes left behind.
PIPELINE = f"""
import sys
from datetime import date
from pathlib import Path
sys.path.insert(0, {str(REPO)!r})
home, day, how = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), sys.argv[3]
if how == "demo":
    from orchestration.pipeline import run_pipeline
    result = run_pipeline(home, [day], echo=lambda m: print(m, flush=True))
    sys.exit(0 if result.pipeline_success and result.attestations else 3)
from orchestration.crashed_runs import process_tags
from orchestration.definitions import build_definitions
from orchestration.pipeline import QUIET_RUN_CONFIG
from orchestration.instance import instance_for
run = build_definitions(home, "sandbox").resolve_job_def("daily_pipeline").execute_in_process(
    instance=instance_for(home), partition_key=day.isoformat(), tags=process_tags(), run_config=QUIET_RUN_CONFIG,
    raise_on_error=False)
sys.exit(0 if run.success else 3)
"""


def pipeline_command(home: Path, how: str) -> list[str]:
    return [sys.executable, "-c", PIPELINE, str(home), DAY.isoformat(), how]


def pipeline_env(tmp_path: Path) -> dict[str, str]:
    # dagster-dbt puts each invocation's target folder (and its dbt.log) under DBT_TARGET_PATH
    return {**os.environ, "GX_ANALYTICS_ENABLED": "False", "DAGSTER_DISABLE_TELEMETRY": "1",
            "DBT_TARGET_PATH": str(tmp_path / "dbt-target")}


def kill_when(command: list[str], env: dict, log: Path, ready: Callable[[], bool], timeout_s: float = 240) -> int:
    """Start `command` in a process group of its own; SIGKILL the whole group as soon as `ready()`."""
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + timeout_s
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"the run ended (status {process.returncode}) before the point it was to be killed at:\n"
                            + log.read_text()[-3000:])
            if time.monotonic() > deadline:
                pytest.fail(f"the run did not reach the point to kill it at in {timeout_s} s:\n"
                            + log.read_text()[-3000:])
            time.sleep(0.005)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        wait_until_gone(process.pid)
    return process.returncode


def wait_until_gone(group: int, timeout_s: float = 30) -> None:
    """Until every process of the group (the run's dbt too, which nobody here waits for) has died: a dying
    process still holds its files (and DuckDB's lock on the warehouse) for a moment after SIGKILL. A process whose
    main thread is already a zombie is not gone while another of its threads still exits: they share the files."""
    def exiting(pid: str) -> bool:
        for task in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                if task.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return True
            except OSError:
                continue
        return False

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and (fields[0] not in ("Z", "X") or exiting(stat.parent.name)):
                alive.append(stat.parent.name)  # fields 5 (pgrp) and 3 (state)
        if not alive:
            return
        time.sleep(0.01)
    pytest.fail(f"processes {alive} of the killed run's group did not die")


def partition_files(home: Path) -> dict[str, list[str]]:
    """Every file in a partition folder of the day, by table."""
    found = {}
    for table_dir in sorted((home / "lake").iterdir()):
        partition = table_dir / f"date={DAY.isoformat()}"
        if partition.is_dir():
            found[table_dir.name] = sorted(p.name for p in partition.iterdir())
    return found


def dbt_log_says(target: Path, text: str) -> Callable[[], bool]:
    def ready() -> bool:
        return any(text in log.read_text(errors="replace") for log in target.glob("ledger_models-*/dbt.log"))
    return ready


@pytest.fixture(scope="module")
def crashes(clean_demo, tmp_path_factory):
    """The demo copied, its last day run and killed during ingestion, re-run and killed during dbt, re-run."""
    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "crash")
    env = pipeline_env(tmp_path)
    clean_day = {path: digest for path, digest in lake_files(demo, DAY).items()}
    rebuilt = sorted({Path(path).parts[1] for path in clean_day if Path(path).parts[1] not in REGISTERS})
    stages = {"demo": demo, "home": home, "clean_day": clean_day, "rebuilt_tables": rebuilt}
    with revived_chain(demo, tmp_path / "chain") as rpc_url:
        point_at(home, rpc_url)
        for table in rebuilt:
            shutil.rmtree(home / "lake" / table / f"date={DAY.isoformat()}")

        def a_partition_is_back() -> bool:
            return any((home / "lake" / table / f"date={DAY.isoformat()}" / "part-0.parquet").exists()
                       for table in rebuilt)

        stages["ingest_kill_status"] = kill_when(pipeline_command(home, "daily"), env, tmp_path / "ingest-killed.log",
                                                 a_partition_is_back)
        stages["after_ingest_kill"] = partition_files(home)
        stages["lake_after_ingest_kill"] = lake_files(home, DAY)

        stages["dbt_kill_status"] = kill_when(
            pipeline_command(home, "daily"), env, tmp_path / "dbt-killed.log",
            dbt_log_says(tmp_path / "dbt-target", "START sql incremental model main.journal_lines"))
        stages["lake_after_dbt_kill"] = lake_files(home, DAY)
        stages["journal_after_dbt_kill"] = table_digest(home, "main.journal_lines", JOURNAL_ORDER)
        with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
            stages["duplicate_lines_after_dbt_kill"] = con.execute(
                "select count(*) - count(distinct (entry_id, line_no)) from main.journal_lines").fetchone()[0]

        started = time.monotonic()
        try:
            rerun = subprocess.run(pipeline_command(home, "demo"), env=env, cwd=REPO, capture_output=True, text=True,
                                   timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            # what a slot of the warehouse pool still held by a killed run does: the re-run waits for ever
            output = (exc.stdout or b"").decode(errors="replace")[-3000:]
            rerun = subprocess.CompletedProcess(exc.cmd, returncode=None, stdout=output,
                                                stderr=f"the re-run did not finish in {RUN_TIMEOUT_S} s")
        stages["rerun"] = rerun
        stages["rerun_seconds"] = time.monotonic() - started
    return stages


@pytest.mark.long
@pytest.mark.fault("kill -9 of the pipeline during ingestion")
def test_kill_9_during_ingestion_leaves_only_complete_partitions_visible(crashes, reliability):
    assert crashes["ingest_kill_status"] == -signal.SIGKILL
    present = {table for table, names in crashes["after_ingest_kill"].items()
               if "part-0.parquet" in names and table not in REGISTERS}
    # killed partway: some of the day's partitions were written again, not all
    assert present and present < set(crashes["rebuilt_tables"]), present
    home, clean = crashes["home"], crashes["clean_day"]
    for table, names in crashes["after_ingest_kill"].items():
        # what a reader sees is part-0.parquet only; a write cut short is a hidden temporary file
        stray = [name for name in names if name not in ("part-0.parquet", ".part-0.parquet.sha256", ".lock")
                 and not is_temporary(Path(name))]
        assert stray == [], (table, stray)
        if "part-0.parquet" in names:
            path = home / "lake" / table / f"date={DAY.isoformat()}" / "part-0.parquet"
            pq.read_table(path)  # a complete Parquet file, footer and all
            key = str(path.relative_to(home))
            assert crashes["lake_after_ingest_kill"][key] == clean[key], f"{table}: not the complete partition"
    # the chain's day is complete only when chain_days says so, and it says so only when it is
    chain_present = present & CHAIN_TABLES
    assert "chain_days" not in chain_present or chain_present == CHAIN_TABLES, chain_present
    # dbt reads date=*/part-0.parquet: the day's rows it would see are exactly the complete files'
    with duckdb.connect() as con:
        for table in present:
            seen = con.execute(f"select * from read_parquet('{home}/lake/{table}/date=*/part-0.parquet', "
                               "union_by_name=true) where partition_date = ?", [DAY]).fetchall()
            clean_rows = con.execute(f"select * from read_parquet('{crashes['demo']}/lake/{table}/"
                                     f"date={DAY.isoformat()}/part-0.parquet', union_by_name=true)").fetchall()
            assert reliability.compare_rows(clean_rows, seen) == (0, 0), table


@pytest.mark.long
@pytest.mark.fault("kill -9 of the pipeline during the dbt build of the journal")
def test_kill_9_during_dbt_leaves_a_warehouse_that_opens_with_no_duplicated_journal_line(crashes, reliability):
    assert crashes["dbt_kill_status"] == -signal.SIGKILL
    # the killed run had re-ingested the whole day first: the lake is the demo's, byte for byte
    assert crashes["lake_after_dbt_kill"] == crashes["clean_day"]
    # it opened read-only beside the dead writer's WAL (no lock left behind), with no line twice
    rows, digest = crashes["journal_after_dbt_kill"]
    clean_rows, clean_digest = table_digest(crashes["demo"], "main.journal_lines", JOURNAL_ORDER)
    reliability.compared(rows=clean_rows, lost=max(clean_rows - rows, 0),
                         duplicates=crashes["duplicate_lines_after_dbt_kill"])
    assert crashes["duplicate_lines_after_dbt_kill"] == 0
    # the model's delete and insert commit together or not at all: no day of the journal half-rebuilt
    assert (rows, digest) == (clean_rows, clean_digest)


@pytest.mark.long
@pytest.mark.fault("re-running the pipeline after kill -9 during ingestion and during dbt")
def test_the_rerun_after_both_crashes_completes_and_rebuilds_what_an_uninterrupted_run_built(crashes, reliability):
    rerun = crashes["rerun"]
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    demo, home = crashes["demo"], crashes["home"]
    # every data file of the lake and the quarantine, every day: the same bytes
    assert lake_files(home) == lake_files(demo)
    assert not (home / "lake" / "chain_reorgs").exists()  # the revived chain is the demo's
    journal, clean_journal = (table_digest(h, "main.journal_lines", JOURNAL_ORDER) for h in (home, demo))
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        duplicates = con.execute(
            "select count(*) - count(distinct (entry_id, line_no)) from main.journal_lines").fetchone()[0]
    reliability.compared(rows=clean_journal[0], lost=max(clean_journal[0] - journal[0], 0), duplicates=duplicates)
    assert duplicates == 0
    assert journal == clean_journal
    order = "partition_date, account_code"
    assert table_digest(home, "main.trial_balance", order) == table_digest(demo, "main.trial_balance", order)
    for suffix in ("html", "pdf"):
        name = f"reports/attestation-{DAY.isoformat()}.{suffix}"
        assert (home / name).read_bytes() == (demo / name).read_bytes(), name


@pytest.mark.long
@pytest.mark.fault("a run killed -9 holding the warehouse pool's slot")
def test_the_killed_runs_are_marked_failed_and_hold_no_warehouse_slot(crashes, monkeypatch, reliability):
    import dagster as dg

    assert crashes["rerun"].returncode == 0
    # the slot's holder was killed mid-build: the re-run that got the slot wrote the journal entire, once
    with duckdb.connect(str(DataHome(crashes["home"]).warehouse), read_only=True) as rerun, \
            duckdb.connect(str(DataHome(crashes["demo"]).warehouse), read_only=True) as clean:
        journal = "select entry_id, line_no, debit, credit from main.journal_lines"
        assert reliability.compare_rows(clean.execute(journal).fetchall(), rerun.execute(journal).fetchall()) == (0, 0)
    monkeypatch.setenv("DAGSTER_HOME", str(DataHome(crashes["home"]).dagster))
    instance = dg.DagsterInstance.get()
    killed_runs = instance.get_runs(filters=dg.RunsFilter(job_name="daily_pipeline"))
    assert [run.status for run in killed_runs] == [dg.DagsterRunStatus.FAILURE] * 2
    rerun = instance.get_runs(filters=dg.RunsFilter(job_name="ingest_and_reconcile",
                                                    tags={"dagster/asset_partition_range_start": DAY.isoformat()}))
    assert [run.status for run in rerun] == [dg.DagsterRunStatus.SUCCESS]
    for killed in killed_runs:
        failures = instance.all_logs(killed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert any("died before the run ended" in (entry.dagster_event.message or "") for entry in failures)
    assert not [run for run in instance.get_runs() if not run.is_finished]
    storage = instance.event_log_storage
    assert storage.get_concurrency_run_ids() == set()
    assert storage.get_concurrency_info("warehouse").claimed_slots == []



def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write_of_the_partition(tmp_path):
    import os
    import time
    from datetime import date

    from foundation.lake import ABANDONED_TEMPORARY_AGE_S, SCHEMAS, Lake

    lake, day = Lake(tmp_path), date(2026, 1, 1)
    empty = SCHEMAS["chain_days"].empty_table()
    path = lake.write_table("chain_days", day, empty)
    abandoned = path.parent / ".part-0.parquet.killed.tmp"
    in_flight = path.parent / ".part-0.parquet.writing.tmp"
    for temporary in (abandoned, in_flight):
        temporary.write_bytes(path.read_bytes())
    old = time.time() - ABANDONED_TEMPORARY_AGE_S - 60
    os.utime(abandoned, (old, old))
    lake.write_table("chain_days", day, empty)
    assert not abandoned.exists()
    assert in_flight.exists(), "a temporary as young as a live writer's is left alone"
    assert lake.read_table("chain_days", day).num_rows == 0
