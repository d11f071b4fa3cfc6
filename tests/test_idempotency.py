"""Idempotency: materialising every asset of a day again changes nothing, byte for byte.

A copy of the clean 3-day demo (session fixture `clean_demo`), its chain brought back on a fresh anvil
(tests/demo_copies.py). Its last day is materialised once more through the Definitions' job of a whole day,
`daily_pipeline` (every source, the ledger and its checks, the attestation: every partitioned asset; the
unpartitioned dbt seeds are loaded already), executed as `run_pipeline` executes its jobs, on the instance in
BACKED_HOME/dagster. Every file of the day's lake and quarantine partitions, the journal and the trial balance,
and the attestation (HTML and PDF) come out the same as the demo's own run of three days built them. The run really
rewrote them: a new file (the lake writes a new file and renames it over the old one) and a new materialisation of
the ledger. `make reliability`'s: `make test` holds a rebuilt day of the ledger to its first build
(tests/test_ledger_dbt.py) and a re-issued attestation to the first, byte for byte (tests/test_attestation.py).
"""
import os

import dagster as dg
import pytest
from conftest import DAYS, START
from demo_copies import JOURNAL_ORDER, copy_of_demo, daily_pipeline_on, lake_files, table_digest

pytestmark = pytest.mark.long
DAY = START.replace(day=DAYS)
# Appended registers, not rebuilt by a run of the day: they must stay as they are.
REGISTERS = ("lake/inbox_receipts/", "lake/chain_reorgs/")
REPORTS = [f"reports/attestation-{DAY.isoformat()}.{suffix}" for suffix in ("html", "pdf")]


def snapshot(home, instance=None) -> dict:
    files = lake_files(home, DAY)
    state = {
        "lake": files,
        "file_ids": {path: (os.stat(home / path).st_ino, os.stat(home / path).st_mtime_ns) for path in files},
        "journal": table_digest(home, "main.journal_lines", JOURNAL_ORDER),
        "trial_balance": table_digest(home, "main.trial_balance", "partition_date, account_code"),
        "reports": {name: (home / name).read_bytes() for name in REPORTS},
        "report_ids": {name: (os.stat(home / name).st_ino, os.stat(home / name).st_mtime_ns) for name in REPORTS},
    }
    if instance is not None:
        event = instance.get_latest_materialization_event(dg.AssetKey("journal_lines"))
        state["journal_materialised_by"] = event.run_id if event else None
    return state


@pytest.fixture(scope="module")
def runs(clean_demo, tmp_path_factory):
    """The demo's snapshot, its copy's before the run of the day, and the copy's after it."""
    from orchestration.pipeline import QUIET_RUN_CONFIG, step_crashes

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "idempotency")
    with daily_pipeline_on(demo, home, tmp_path / "chain") as (daily, instance):
        before = snapshot(home, instance)
        run = daily.execute_in_process(instance=instance, partition_key=DAY.isoformat(),
                                       run_config=QUIET_RUN_CONFIG, raise_on_error=False)
        assert run.success, step_crashes(run)
        return snapshot(demo), before, snapshot(home, instance)


def test_rematerialising_a_day_rewrites_every_lake_file_of_its_partition_with_the_same_bytes(runs):
    demo, before, after = runs
    assert after["lake"] == demo["lake"]
    tables = {path.split("/")[1] for path in after["lake"]}
    assert len(tables) >= 14, tables  # every source's tables of the day, not a few
    rewritten = [path for path in after["lake"] if not path.startswith(REGISTERS)]
    assert len(rewritten) >= 13
    # the run wrote them anew (a new file renamed over the copy's), so the same bytes are a result
    assert [p for p in rewritten if before["file_ids"][p] == after["file_ids"][p]] == []
    assert not any(path.startswith("lake/chain_reorgs/") for path in after["lake"])  # the same chain


def test_rematerialising_a_day_rebuilds_the_same_journal_and_trial_balance(runs):
    demo, before, after = runs
    rows, _ = after["journal"]
    assert rows > 0
    assert after["journal"] == demo["journal"]
    assert after["trial_balance"] == demo["trial_balance"]
    # the run rebuilt the journal (a materialisation of its own), it did not just leave it alone
    assert None not in (before["journal_materialised_by"], after["journal_materialised_by"])
    assert before["journal_materialised_by"] != after["journal_materialised_by"]


def test_rematerialising_a_day_writes_the_same_attestation_bytes(runs):
    demo, before, after = runs
    for name in REPORTS:
        assert after["reports"][name] == demo["reports"][name], name
        assert after["report_ids"][name] != before["report_ids"][name], f"{name} was not written again"



def test_a_copied_home_s_runs_start_from_the_saved_parse_of_the_project(runs):
    """dbt reuses a saved parse only for the profile it was made with: the profile names the warehouse relative to
    the home (assets/ledger.py dbt_environment), so the parse the demo's home saved serves its copy's run. dbt logs
    why whenever it must parse the whole project again."""
    from assets.ledger import DBT_PROJECT_DIR

    _, _, after = runs

    def dbt_log(state: dict) -> str:
        run = state["journal_materialised_by"]
        logs = list((DBT_PROJECT_DIR / "target").glob(f"ledger_models-{run[:7]}-*/dbt.log"))
        assert len(logs) == 1, logs
        return logs[0].read_text()

    assert "Unable to do partial parsing" not in dbt_log(after)
