"""`backed backfill`: an asset backfill on the instance (what the UI's Backfills page lists), run to the end
without a daemon, resumable. Real Dagster instance, real code location of workspace.yaml, real runs."""
import os
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
    monkeypatch.delenv("BACKED_RPC_URLS", raising=False)
    monkeypatch.delenv("BACKED_PROFILE", raising=False)
    return CliRunner().invoke(main, ["--home", str(home), "backfill", *args])


def correct_lender_b_tape(home: Path) -> str:
    """Lender B corrects its last tape: one loan's unpaid principal 500 lower, taken in by `backed ingest`. Returns
    the loan's terms hash."""
    archived = next((home / "inbox" / "archive" / "loan_tapes" / DAY.isoformat()).glob("*-lender-b-*.csv"))
    rows = archived.read_text().splitlines(keepends=True)
    loan = next(i for i, row in enumerate(rows) if ",B-0004," in row)
    unpaid = rows[loan].split('"')[3]
    lowered = f"{int(unpaid.replace(',', '').split('.')[0]) - 500:,}.00"
    rows[loan] = rows[loan].replace(f'"{unpaid}"', f'"{lowered}"', 1)
    corrected = home.parent / f"lender-b-{DAY.isoformat()}.csv"
    corrected.write_text("".join(rows))
    taken_in = subprocess.run([str(CLI), "--home", str(home), "ingest", str(corrected)], capture_output=True,
                              text=True, timeout=200)
    assert taken_in.returncode == 0 and "supersedes" in taken_in.stdout, taken_in.stdout + taken_in.stderr
    return rows[loan].split(",")[3]


@pytest.mark.long
def test_a_corrected_tape_is_backfilled_through_the_stale_staging_submitted_and_resumed(home, monkeypatch):
    """After `backed ingest` takes a corrected tape in, a backfill of the ledger and the reconciliation views alone
    takes in the staging models the tape made stale (a selection that left them as they were would read the old
    tape and R5 would stay silent). Submitted, it waits on the instance; resumed while a Dagster daemon beat a moment
    ago (`dagster dev` just stopped), it follows the daemon while it beats, then runs here to the end, its runs'
    output in the log; R5's blocker is told in the check's own words."""
    terms_hash = correct_lender_b_tape(home)
    submitted = backfill_in_process(monkeypatch, home, "--from", DAY.isoformat(), "--to", DAY.isoformat(),
                                    "--select", "group:ledger or group:reconciliation", "--submit-only")
    assert submitted.exit_code == 0, submitted.output[-3000:]
    assert "not up to date for these days, added to the backfill" in submitted.output
    assert "Backfills" in submitted.output
    backfill_id = submitted.output.split()[-1]
    instance = instance_of(monkeypatch, home)
    record = instance.get_backfill(backfill_id)
    assert record.status.value == "REQUESTED" and record.is_asset_backfill
    assert {"stg_loan_tapes", "trial_balance", "r5_loans_match_tapes"} <= {
        key.to_user_string() for key in record.asset_selection}

    from dagster._daemon.types import DaemonHeartbeat

    from orchestration.backfills import BACKFILL_DAEMON, DAEMON_ALIVE_SECONDS

    instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - DAEMON_ALIVE_SECONDS + 12, BACKFILL_DAEMON,
                                                  "stopped-dagster-dev", errors=[]))
    resumed = backfill(home, "--resume", backfill_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "a Dagster daemon is running on this instance" in resumed.stderr
    assert "the Dagster daemon stopped beating (" in resumed.stderr
    assert instance.get_backfill(backfill_id).status.value == "COMPLETED_SUCCESS"
    # the blocker in the check's own words, its entity and difference, not as `1 blocking asset check failed`
    assert f"r5_loans_match_tapes: blocker {DAY} loan:{terms_hash}:principal" in resumed.stderr
    assert "difference 500 (1 blocker break)" in resumed.stderr
    import duckdb
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        opened = con.execute("select check_id, entity_key, difference from recon.exceptions where status = 'open' "
                             "and check_date = ?", [DAY]).fetchall()
    assert [(c, e, float(d)) for c, e, d in opened] == [("R5", f"loan:{terms_hash}:principal", 500.0)]
    # the runs' own output went to the log, not the terminal; they ran in the command's process: the only daemon
    # heartbeat is the stopped one's
    assert DataHome(home).backfill_log(backfill_id).stat().st_size > 0
    assert [beat.daemon_id for beat in instance.get_daemon_heartbeats().values()] == ["stopped-dagster-dev"]
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


def selected(home: Path, select: str) -> tuple[set[str], list[str]]:
    """What a backfill of `select` on DAY would materialise, and what it said, without launching it."""
    from orchestration.backfills import backfill_keys

    said = []
    keys, _ = backfill_keys(home, [DAY.isoformat()], select, echo=said.append)
    return {key.to_user_string() for key in keys}, said


def test_a_selection_with_a_gap_is_filled_from_the_dbt_build_or_refused(home, monkeypatch):
    """Dagster's backfill follows a selection down from its roots: past an asset the selection leaves out, it would
    skip the rest silently. A model of the dbt build in such a gap is added; an ingestion asset refuses the selection
    (it reads the chain or the inbox). An off-chain source takes the inbox in first; models reading the inbox's
    receipts do not."""
    from orchestration.backfills import SelectionError

    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    keys, said = selected(home, "key:stg_loan_tapes or key:trial_balance")
    assert any("models of the dbt build between assets it selects, added to the backfill" in line for line in said)
    assert {"stg_loan_tapes", "trial_balance", "journal_lines", "ledger_postings"} <= keys
    assert "loan_tapes" not in keys
    with pytest.raises(SelectionError, match="leaves out loan_tapes, which lie between assets it selects"):
        selected(home, "key:inbox_receipts or key:stg_loan_tapes")
    assert selected(home, "group:loan_books")[0] == {
        "inbox_receipts", "loan_tapes", "loan_collateral", "loan_tape_supersessions"}
    assert "inbox_receipts" not in selected(home, "group:reconciliation")[0]
    # a clean demo's models are up to date: nothing is added to a selection of the report
    assert selected(home, "group:attestation") == ({"reserve_attestation"}, [])


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
    run up: a stalled backfill names it and what to run; `--release-run` frees it (and refuses a run whose process
    is alive)."""
    from dagster._core.events import DagsterEvent, EngineEventData

    from orchestration.backfills import why_no_progress

    gone = subprocess.Popen(["true"])
    gone.wait()
    instance = instance_of(monkeypatch, home)
    dead, alive = "0dead000-0000-4000-8000-000000000001", "0a11e000-0000-4000-8000-000000000002"
    _run_holding_the_warehouse(instance, dead, gone.pid)
    instance.add_run(dg.DagsterRun(job_name="attestation", run_id=alive, status=dg.DagsterRunStatus.STARTED))
    instance.report_dagster_event(DagsterEvent(event_type_value="ENGINE_EVENT", job_name="attestation", message="x",
                                               event_specific_data=EngineEventData(), pid=os.getpid()), alive)
    # the backfill's run, its attestation step waiting for the pool's one slot
    waiting = "0b0b0000-0000-4000-8000-000000000003"
    instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id=waiting, status=dg.DagsterRunStatus.STARTED,
                                   tags=dg.DagsterRun.tags_for_backfill_id("stalledbf")))
    instance.event_log_storage.claim_concurrency_slot("warehouse", waiting, "reserve_attestation")

    why = why_no_progress(instance, "stalledbf", following_daemon=False)
    assert why == (f"its runs wait for the warehouse pool, held by run 0dead000 (attestation) whose process (pid "
                   f"{gone.pid}) is gone; if no command is running it, release it with `backed backfill --release-run "
                   f"{dead}`")
    refused = backfill_in_process(monkeypatch, home, "--release-run", alive)
    assert refused.exit_code == 1 and f"run {alive} is alive (pid {os.getpid()})" in refused.output
    released = backfill_in_process(monkeypatch, home, "--release-run", dead)
    assert released.exit_code == 0 and "marked failed and its pool slots freed" in released.output
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    pool = instance.event_log_storage.get_concurrency_info("warehouse")
    assert dead not in {slot.run_id for slot in pool.claimed_slots}
