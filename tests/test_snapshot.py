"""The read-only snapshot readers query (assets/snapshot.py) and `backed sql`.

On copies of the clean 3-day demo, whose run published a snapshot as every run does. The fault scenario holds an
analyst's read-write connection and a BI tool's reader open on the snapshot while the pipeline runs the last day
again (chain revived, as `backed` runs it: seeds, ingest and reconcile, attest, publish); the run completes, the
snapshot is replaced in one step, each reader keeps the snapshot it opened, and the new one holds every journal line
of the warehouse once.
"""
import json
import os
import subprocess
import sys
import textwrap
from datetime import date

import duckdb
import pytest
from click.testing import CliRunner
from conftest import DAYS, START
from demo_copies import copy_of_demo, daily_pipeline_on

from foundation.home import DataHome

DAY = START.replace(day=DAYS)

# A reader in its own process, as a SQL client or a BI tool is: opens the snapshot as told, answers, then waits for
# a line on stdin before answering again (on the same connection) and exiting.
READER = textwrap.dedent("""
    import duckdb, json, sys
    mode, path, parquet = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "read-write":
        con = duckdb.connect(path)
        con.execute("create table analyst_scratch as select 1 as x")  # a write: the file now has a WAL
        query = "select (select snapshot_id from snapshot_info), (select count(*) from journal_lines)"
    else:  # a BI tool reading the Parquet files, its file handles held open
        import pyarrow.parquet as pq
        handle = pq.ParquetFile(parquet + "/journal_lines.parquet")
        con = duckdb.connect()
        query = None
    def answer():
        if query is not None:
            return list(con.execute(query).fetchone())
        return [handle.metadata.num_rows, handle.read().num_rows]
    print(json.dumps(answer()), flush=True)
    sys.stdin.readline()
    print(json.dumps(answer()), flush=True)
""")


def reader(mode: str, home: DataHome) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", READER, mode, str(home.snapshot_database),
                                str(home.snapshot_parquet)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    return process


def first_answer(process: subprocess.Popen) -> list:
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return json.loads(line)


def last_answer(process: subprocess.Popen) -> list:
    out, err = process.communicate("go\n", timeout=60)
    assert process.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def manifest(home: DataHome) -> dict:
    return json.loads(home.snapshot_manifest.read_text())


def warehouse_journal_keys(home: DataHome) -> list[tuple]:
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        return con.execute("select entry_id, line_no from main.journal_lines").fetchall()


@pytest.fixture(scope="module")
def run_with_readers(clean_demo, tmp_path_factory):
    """The last day run again while an analyst holds the snapshot's DuckDB file read-write and a BI tool reads its
    Parquet files; what each saw before and after."""
    from orchestration.pipeline import run_pipeline

    demo, tmp_path, home_path = copy_of_demo(clean_demo, tmp_path_factory, "snapshot_readers")
    home = DataHome(home_path)
    before = manifest(home)
    analyst, bi_tool = reader("read-write", home), reader("read-only", home)
    seen_before = {"analyst": first_answer(analyst), "bi_tool": first_answer(bi_tool)}
    with daily_pipeline_on(demo, home_path, tmp_path / "chain"):
        result = run_pipeline(home_path, [DAY], echo=lambda message: None)
    seen_after = {"analyst": last_answer(analyst), "bi_tool": last_answer(bi_tool)}
    return {"home": home, "before": before, "after": manifest(home), "result": result,
            "seen_before": seen_before, "seen_after": seen_after}


@pytest.mark.long
@pytest.mark.fault("an analyst holding the snapshot open read-write, and a BI tool reading it, during a run")
def test_readers_of_the_snapshot_do_not_block_the_run_and_keep_what_they_opened(run_with_readers, reliability):
    home, before, after = run_with_readers["home"], run_with_readers["before"], run_with_readers["after"]
    assert DAY in run_with_readers["result"].attestations  # the run went through to the attestation
    assert after["snapshot_id"] != before["snapshot_id"]
    assert after["ledger_through"] == DAY.isoformat()
    # each reader kept the snapshot it opened, whole, while the new one was put in place
    assert run_with_readers["seen_before"]["analyst"] == run_with_readers["seen_after"]["analyst"] == \
        [before["snapshot_id"], before["tables"]["journal_lines"]["rows"]]
    rows = before["tables"]["journal_lines"]["rows"]
    assert run_with_readers["seen_before"]["bi_tool"] == run_with_readers["seen_after"]["bi_tool"] == [rows, rows]
    # the new snapshot: the analyst's write to the old one is gone with it, and it holds the warehouse's journal
    with duckdb.connect(str(home.snapshot_database), read_only=True) as con:
        assert con.execute("select snapshot_id from snapshot_info").fetchone()[0] == after["snapshot_id"]
        assert "analyst_scratch" not in {row[0] for row in con.execute("show tables").fetchall()}
        published = con.execute("select entry_id, line_no from journal_lines").fetchall()
    assert reliability.compare_rows(warehouse_journal_keys(home), published) == (0, 0)
    parquet = duckdb.sql(f"select entry_id, line_no from read_parquet('{home.snapshot_parquet}/journal_lines.parquet')")
    assert reliability.compare_rows(warehouse_journal_keys(home), parquet.fetchall()) == (0, 0)
    # nothing half-published is left beside it
    assert sorted(p.name for p in home.snapshot.iterdir()) == ["ledger.duckdb", "manifest.json", "parquet", "versions"]


def test_the_snapshot_is_published_by_the_run_and_matches_the_warehouse(clean_demo):
    home = DataHome(clean_demo[0])
    published = manifest(home)
    assert published["ledger_through"] == DAY.isoformat()
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        assert published["chain_hash"] == con.execute(
            "select chain_hash from main.journal_day_hashes order by partition_date desc limit 1").fetchone()[0]
        for name in ("journal_lines", "trial_balance", "reserve_coverage", "loan_positions"):
            assert published["tables"][name]["rows"] == con.execute(f"select count(*) from main.{name}").fetchone()[0]
    assert published["tables"]["journal_lines"]["rows"] > 100
    # money keeps its exact type in both forms
    with duckdb.connect(str(home.snapshot_database), read_only=True) as con:
        assert con.execute("select typeof(debit) from journal_lines limit 1").fetchone()[0] == "DECIMAL(38,18)"
    parquet = duckdb.sql(f"select typeof(debit) from read_parquet('{home.snapshot_parquet}/journal_lines.parquet') "
                         "limit 1")
    assert parquet.fetchall()[0][0] == "DECIMAL(38,18)"


def test_publishing_replaces_the_snapshot_whole_and_keeps_two_earlier_parquet_versions(clean_demo, tmp_path):
    import shutil

    from assets.snapshot import VERSIONS_KEPT, publish_snapshot

    home = DataHome(tmp_path / "home")
    shutil.copytree(clean_demo[0], home.root)
    holder = reader("read-write", home)
    first = first_answer(holder)
    ids = [publish_snapshot(home, snapshot_id=f"{n:032x}").snapshot_id for n in range(1, 5)]
    assert last_answer(holder) == first  # the holder of the old file kept it
    assert manifest(home)["snapshot_id"] == ids[-1]
    assert os.readlink(home.snapshot_parquet).startswith("versions/")
    assert len(list(home.snapshot_versions.iterdir())) == VERSIONS_KEPT + 1
    with duckdb.connect(str(home.snapshot_database), read_only=True) as con:
        assert con.execute("select snapshot_id from snapshot_info").fetchone()[0] == ids[-1]


def test_the_snapshot_check_fails_when_a_published_file_differs_from_the_warehouse(clean_demo, tmp_path):
    import shutil

    from assets.snapshot import snapshot_matches_warehouse
    from foundation.home_resource import BackedHome

    home = DataHome(tmp_path / "home")
    shutil.copytree(clean_demo[0], home.root)
    checked = snapshot_matches_warehouse(backed_home=BackedHome(home=str(home.root)))
    assert checked.passed and checked.metadata["compared"].text == "warehouse, DuckDB file, Parquet"
    # a reader holding the file read-write does not make the check fail: it compares what it can open
    holder = reader("read-write", home)
    first_answer(holder)
    checked = snapshot_matches_warehouse(backed_home=BackedHome(home=str(home.root)))
    last_answer(holder)
    assert checked.passed and checked.metadata["compared"].text == "warehouse, Parquet"
    # a published Parquet file that lost a journal line (written again, so its sha256 also changes)
    parquet = home.snapshot_parquet / "journal_lines.parquet"
    duckdb.sql(f"copy (select * from read_parquet('{parquet}') order by entry_id, line_no offset 1) "
               f"to '{parquet}.new' (format parquet)")
    os.replace(f"{parquet}.new", parquet)
    result = snapshot_matches_warehouse(backed_home=BackedHome(home=str(home.root)))
    assert not result.passed
    assert "journal_lines: warehouse" in result.metadata["differences"].text


def test_backed_sql_reads_the_snapshot_and_refuses_to_write(clean_demo):
    from orchestration.cli import main

    runner = CliRunner()
    home = str(clean_demo[0])
    out = runner.invoke(main, ["--home", home, "sql", "select partition_date, usdai_total_supply from "
                               "reserve_coverage order by 1"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["partition_date", "usdai_total_supply"]
    assert lines[-1] == f"({DAYS} rows)"
    assert lines[-2].split()[0] == DAY.isoformat() and "." in lines[-2].split()[1]  # exact decimals, not floats

    csv = runner.invoke(main, ["--home", home, "sql", "--format", "csv", "select count(*) as n from journal_lines"])
    assert csv.exit_code == 0 and csv.stdout.splitlines()[0] == "n" and int(csv.stdout.splitlines()[1]) > 100

    shell = runner.invoke(main, ["--home", home, "sql", "--shell"],
                          input="select count(*) as days\nfrom journal_day_hashes;\n.quit\n")
    assert shell.exit_code == 0 and f"\n{DAYS}" in shell.stdout

    refused = runner.invoke(main, ["--home", home, "sql", "create table mine as select 1"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: the query failed:") and "read-only" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.bad_input
def test_backed_sql_without_a_snapshot_says_what_to_run(tmp_path):
    from orchestration.cli import main

    out = CliRunner().invoke(main, ["--home", str(tmp_path), "sql", "select 1"])
    assert out.exit_code == 1
    assert out.stderr.strip() == (f"Error: no snapshot in {tmp_path / 'snapshot'}: it is published after each run "
                                  "of the pipeline (run `backed demo`, or the pipeline, first)")


def test_the_snapshot_sensor_asks_for_a_publication_after_each_run_that_changes_the_marts(clean_demo):
    import dagster as dg

    from orchestration.instance import instance_for
    from orchestration.sensors import snapshot_sensor

    instance = instance_for(clean_demo[0])

    def evaluated(job_name: str):
        run = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=[dg.DagsterRunStatus.SUCCESS]),
                                limit=1)[0]
        event = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records[0]
        context = dg.build_run_status_sensor_context(
            sensor_name="snapshot_sensor", dagster_instance=instance, dagster_run=run,
            dagster_event=event.event_log_entry.dagster_event)
        return run, snapshot_sensor(context)

    run, request = evaluated("attestation")
    assert isinstance(request, dg.RunRequest) and request.run_key == f"snapshot-after-{run.run_id}"
    for job_name in ("publish_snapshot", "reference_data"):  # its own runs and the seeds' do not ask again
        _, skipped = evaluated(job_name)
        assert isinstance(skipped, dg.SkipReason), job_name
    assert snapshot_sensor.job_name == "publish_snapshot"
