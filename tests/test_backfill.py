"""`backed backfill`: an asset backfill on the instance (what the UI's Backfills page lists), run to the end
without a daemon, resumable. Real Dagster instance, real code location of workspace.yaml, real runs."""
import os
import re
import shutil
import subprocess
import time
import sys
from pathlib import Path

import dagster as dg
import pytest
from conftest import DAYS, START

from foundation.home import DataHome

CLI = Path(sys.executable).parent / "backed"
DAY = START.replace(day=DAYS)


def backfill(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "--home", str(home), "backfill", *args], capture_output=True, text=True,
                          timeout=400)


@pytest.fixture
def home(clean_demo, tmp_path):
    copy = tmp_path / "home"
    shutil.copytree(clean_demo[0], copy)
    return copy


def instance_of(monkeypatch, home: Path) -> dg.DagsterInstance:
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return dg.DagsterInstance.get()


def backfill_in_process(monkeypatch, home: Path, *args: str):
    """For the refusals: the same command without a new interpreter, its environment restored after the test."""
    from click.testing import CliRunner

    from orchestration.cli import main

    monkeypatch.setenv("BACKED_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("BACKED_RPC_URL", raising=False)
    monkeypatch.delenv("BACKED_PROFILE", raising=False)
    return CliRunner().invoke(main, ["--home", str(home), "backfill", *args])


def test_a_submitted_backfill_is_on_the_instance_and_resume_runs_it_to_the_end(home, monkeypatch):
    report = home / "reports" / f"attestation-{DAY.isoformat()}.html"
    before = report.read_bytes(), report.with_suffix(".pdf").read_bytes()

    submitted = backfill_in_process(monkeypatch, home, "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                    "--select", "group:attestation", "--submit-only")
    assert submitted.exit_code == 0, submitted.output[-3000:]
    backfill_id = submitted.output.split()[-1]
    instance = instance_of(monkeypatch, home)
    record = instance.get_backfill(backfill_id)
    assert record.status.value == "REQUESTED" and record.is_asset_backfill
    assert record.asset_selection == [dg.AssetKey("reserve_attestation")]
    assert "Backfills" in submitted.output

    # a daemon beat a moment ago (`dagster dev` just stopped): the backfill follows it while it beats, then runs here
    from dagster._daemon.types import DaemonHeartbeat

    from orchestration.backfills import BACKFILL_DAEMON, DAEMON_ALIVE_SECONDS

    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - DAEMON_ALIVE_SECONDS + 12, BACKFILL_DAEMON,
                                                  "stopped-dagster-dev", errors=[]))
    resumed = backfill(home, "--resume", backfill_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "a Dagster daemon is running on this instance" in resumed.stderr
    assert "the Dagster daemon stopped beating (" in resumed.stderr
    assert "1/1 asset partitions materialised" in resumed.stderr
    assert instance.get_backfill(backfill_id).status.value == "COMPLETED_SUCCESS"
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    assert [r.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
    tags = runs[0].tags
    assert DAY.isoformat() in (tags.get("dagster/partition"), tags.get("dagster/asset_partition_range_start"))
    # the same inputs: the attestation it rewrote is the same bytes
    assert (report.read_bytes(), report.with_suffix(".pdf").read_bytes()) == before
    # the runs' own output went to the log, not the terminal
    assert DataHome(home).backfill_log(backfill_id).stat().st_size > 0
    # it ran in the command's process: the only daemon heartbeat is the stopped one's
    assert [beat.daemon_id for beat in instance.get_daemon_heartbeats().values()] == ["stopped-dagster-dev"]

    again = backfill(home, "--resume", backfill_id)
    assert again.returncode == 1 and "nothing to resume" in again.stderr
    listed = backfill(home, "--list")
    assert backfill_id in listed.stdout and "COMPLETED_SUCCESS" in listed.stdout


def test_bad_ranges_selections_and_profiles_fail_before_anything_is_launched(home, monkeypatch):
    backwards = backfill_in_process(monkeypatch, home, "--from", "2026-01-03", "--to", "2026-01-01")
    assert backwards.exit_code == 2 and "before --from" in backwards.output
    nothing = backfill_in_process(monkeypatch, home, "--from", "2026-01-01", "--to", "2026-01-01",
                                  "--select", "group:no_such_group")
    assert nothing.exit_code == 2 and "selects no asset" in nothing.output
    arbitrum = backfill_in_process(monkeypatch, home, "--profile", "arbitrum", "--from", "2026-01-01", "--to",
                                   "2026-01-01", "--select", "group:chain")
    assert arbitrum.exit_code == 1 and "needs an Arbitrum One JSON-RPC URL in BACKED_RPC_URL" in arbitrum.output
    assert instance_of(monkeypatch, home).get_backfills() == []


def test_a_selection_of_an_off_chain_source_takes_the_inbox_in_first(home, monkeypatch):
    submitted = backfill_in_process(monkeypatch, home, "--from", "2026-01-01", "--to", "2026-01-01",
                                    "--select", "group:loan_books", "--submit-only")
    assert submitted.exit_code == 0, submitted.output[-3000:]
    record = instance_of(monkeypatch, home).get_backfill(submitted.output.split()[-1])
    assert set(record.asset_selection) == {dg.AssetKey(key) for key in (
        "inbox_receipts", "loan_tapes", "loan_collateral", "loan_tape_supersessions")}


def test_a_selection_of_the_ledger_rebuilds_the_staging_a_corrected_tape_made_stale(home, monkeypatch):
    """Lender B corrects its last tape (one loan's unpaid principal 500 lower): `backed ingest` takes it in, and a
    backfill of the ledger and the reconciliation views alone rebuilds the staging models the new tape made stale, so
    R5 sees the difference (a selection that left staging as it was would see the old tape and stay silent)."""
    archived = next((home / "inbox" / "archive" / "loan_tapes" / DAY.isoformat()).glob("*-lender-b-*.csv"))
    rows = archived.read_text().splitlines(keepends=True)
    loan = next(i for i, row in enumerate(rows) if ",B-0004," in row)
    terms_hash = rows[loan].split(",")[3]
    unpaid = rows[loan].split('"')[3]
    lowered = f"{int(unpaid.replace(',', '').split('.')[0]) - 500:,}.00"
    rows[loan] = rows[loan].replace(f'"{unpaid}"', f'"{lowered}"', 1)
    corrected = home.parent / f"lender-b-{DAY.isoformat()}.csv"
    corrected.write_text("".join(rows))
    taken_in = subprocess.run([str(CLI), "--home", str(home), "ingest", str(corrected)], capture_output=True,
                              text=True, timeout=200)
    assert taken_in.returncode == 0 and "supersedes" in taken_in.stdout, taken_in.stdout + taken_in.stderr

    done = backfill(home, "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                    "--select", "group:ledger or group:reconciliation")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "not up to date for these days, added to the backfill" in done.stderr
    assert "stg_loan_tapes" in _added_models(monkeypatch, home, done.stdout.split()[-1])
    # the blocker is told in the check's own words, its entity and difference, not as `1 blocking asset check failed`
    assert f"r5_loans_match_tapes: blocker {DAY} loan:{terms_hash}:principal" in done.stderr
    assert "difference 500 (1 blocker break)" in done.stderr
    import duckdb
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        opened = con.execute("select check_id, entity_key, difference from recon.exceptions where status = 'open' "
                             "and check_date = ?", [DAY]).fetchall()
    assert [(c, e, float(d)) for c, e, d in opened] == [("R5", f"loan:{terms_hash}:principal", 500.0)]


def _added_models(monkeypatch, home: Path, backfill_id: str) -> set[str]:
    record = instance_of(monkeypatch, home).get_backfill(backfill_id)
    return {key.to_user_string() for key in record.asset_selection}


def test_a_selection_with_a_gap_is_filled_from_the_dbt_build_or_refused(home, monkeypatch):
    """Dagster's backfill follows a selection down from its roots: past an asset the selection leaves out, it would
    skip the rest silently. A model of the dbt build in such a gap is added; an ingestion asset refuses the selection
    (it reads the chain or the inbox)."""
    filled = backfill_in_process(monkeypatch, home, "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                 "--select", "key:stg_loan_tapes or key:trial_balance", "--submit-only")
    assert filled.exit_code == 0, filled.output[-3000:]
    assert "models of the dbt build between assets it selects, added to the backfill" in filled.output
    added = _added_models(monkeypatch, home, filled.output.split()[-1])
    assert {"stg_loan_tapes", "trial_balance", "journal_lines", "ledger_postings"} <= added
    assert "loan_tapes" not in added

    refused = backfill_in_process(monkeypatch, home, "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                  "--select", "key:inbox_receipts or key:stg_loan_tapes", "--submit-only")
    assert refused.exit_code == 2
    assert "leaves out loan_tapes, which lie between assets it selects" in refused.output


def _run_holding_the_warehouse(instance: dg.DagsterInstance, run_id: str, pid: int) -> None:
    """A run of another job, started, whose process (`pid`) reported its step and claimed the warehouse pool's slot."""
    from dagster._core.events import DagsterEvent, EngineEventData

    instance.add_run(dg.DagsterRun(job_name="attestation", run_id=run_id, status=dg.DagsterRunStatus.STARTED))
    instance.report_dagster_event(DagsterEvent(event_type_value="ENGINE_EVENT", job_name="attestation",
                                               message="step reserve_attestation started",
                                               event_specific_data=EngineEventData(), pid=pid), run_id)
    instance.event_log_storage.claim_concurrency_slot("warehouse", run_id, "reserve_attestation")


def test_a_backfill_held_up_by_a_dead_run_says_so_and_the_run_can_be_released(home, monkeypatch):
    """A run killed while it held the warehouse pool (its process gone, its slot never given back) holds every later
    run up: the backfill stops after --stall-after, names the run and what to run; `--release-run` frees it (and
    refuses a run whose process is alive); the backfill stays requested for `--resume`."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    instance = instance_of(monkeypatch, home)
    dead, alive = "0dead000-0000-4000-8000-000000000001", "0a11e000-0000-4000-8000-000000000002"
    _run_holding_the_warehouse(instance, dead, gone.pid)
    instance.add_run(dg.DagsterRun(job_name="attestation", run_id=alive, status=dg.DagsterRunStatus.STARTED))
    from dagster._core.events import DagsterEvent, EngineEventData
    instance.report_dagster_event(DagsterEvent(event_type_value="ENGINE_EVENT", job_name="attestation", message="x",
                                               event_specific_data=EngineEventData(), pid=os.getpid()), alive)

    stalled = backfill(home, "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--select", "group:attestation",
                       "--stall-after", "4")
    assert stalled.returncode == 1
    error = stalled.stderr.strip().splitlines()[-1]
    assert re.search(r"made no progress for \d+ s: ", error)
    assert (f"held by run 0dead000 (attestation) whose process (pid {gone.pid}) is gone; if no command is running it, "
            f"release it with `backed backfill --release-run {dead}`") in error
    assert "Traceback" not in stalled.stderr
    backfill_id = error.rsplit("backed backfill --resume ", 1)[1].strip()

    refused = backfill(home, "--release-run", alive)
    assert refused.returncode == 1 and f"run {alive} is alive (pid {os.getpid()})" in refused.stderr
    released = backfill(home, "--release-run", dead)
    assert released.returncode == 0 and "marked failed and its pool slots freed" in released.stdout
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert not instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots
    assert instance.get_backfill(backfill_id).status.value == "REQUESTED"  # `--resume` carries it on
