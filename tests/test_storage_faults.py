"""Storage faults: a lake file changed after it was written, a disk that fills up, a warehouse that will not open.

On copies of the clean 3-day demo. The lake records each Parquet file's sha256 when it writes it and checks it
before anything reads the file (foundation/lake.py); the ledger's build puts back what changed (assets/lake_repair.py)
before dbt reads the lake.
"""
import os
import shutil
import subprocess
from datetime import date

import dagster as dg
import pytest
from conftest import DAYS, START
from demo_copies import JOURNAL_ORDER, copy_of_demo, lake_files, table_digest

from foundation.home import DataHome
from foundation.lake import Lake, LakeFileCorrupted

FIRST, LAST = START, START.replace(day=DAYS)


def flip_a_byte(path) -> None:
    """A bit flipped in the middle of the file, as a failing disk or a careless edit does; its size and time kept."""
    content = bytearray(path.read_bytes())
    stat = path.stat()
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def ledger_of(home, day: date):
    """The ledger's build (dbt and its checks) of `day` on `home`, without the ingestion: what reads the lake."""
    from assets.snapshot import SNAPSHOT_GROUP  # noqa: F401  (the Definitions as the pipeline loads them)
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from orchestration.jobs import LEDGER
    from orchestration.pipeline import QUIET_RUN_CONFIG

    instance = instance_for(home)
    job = dg.define_asset_job("ledger_only", selection=LEDGER)
    defs = dg.Definitions.merge(build_definitions(home), dg.Definitions(jobs=[job]))
    return defs.resolve_job_def("ledger_only").execute_in_process(
        instance=instance, partition_key=day.isoformat(), run_config=QUIET_RUN_CONFIG, raise_on_error=False)


def test_a_changed_lake_file_is_refused_when_read(clean_demo, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(clean_demo[0], home)
    lake = Lake(home)
    assert lake.read_table("loan_tapes", FIRST).num_rows > 0
    flip_a_byte(lake.partition_path("loan_tapes", FIRST))
    with pytest.raises(LakeFileCorrupted, match="changed after it was written"):
        lake.read_table("loan_tapes", FIRST)
    assert [str(found.path) for found in lake.corrupted_partitions()] == [str(lake.partition_path("loan_tapes", FIRST))]


@pytest.mark.long
@pytest.mark.fault("lake files changed after they were written: a lender's tape and an attested chain day")
def test_changed_lake_files_are_put_back_from_the_archive_before_the_ledger_reads_them(clean_demo, tmp_path_factory,
                                                                                        reliability):
    from orchestration.pipeline import step_crashes

    demo, _, home = copy_of_demo(clean_demo, tmp_path_factory, "changed_lake")
    lake = Lake(home)
    before = lake_files(demo, FIRST)
    for table in ("loan_tapes", "chain_events"):
        flip_a_byte(lake.partition_path(table, FIRST))
    assert lake_files(home, FIRST) != before

    run = ledger_of(home, LAST)  # a later day's build: the changed files are not in its window
    assert run.success, step_crashes(run)
    warnings = [entry.user_message for entry in run.dagster_run and
                __import__("orchestration.instance", fromlist=["instance_for"]).instance_for(home).all_logs(run.run_id)]
    assert any("loan_tapes of 2026-01-01: ingested again from its archived input files" in m for m in warnings)
    assert any("chain_events of 2026-01-01: restored from the copy archived" in m for m in warnings)
    assert lake_files(home, FIRST) == before  # the same bytes as written the first time
    assert lake.corrupted_partitions() == []
    rows = lambda h: [tuple(r.values()) for r in Lake(h).read_table("loan_tapes", FIRST).select(  # noqa: E731
        ["loan_id", "principal_outstanding"]).to_pylist()]
    assert reliability.compare_rows(rows(demo), rows(home)) == (0, 0)
    assert table_digest(home, "main.journal_lines", JOURNAL_ORDER) == table_digest(demo, "main.journal_lines",
                                                                                   JOURNAL_ORDER)


def test_a_changed_chain_day_no_attestation_archived_stops_the_build_naming_the_file_and_the_command(clean_demo,
                                                                                                    tmp_path):
    from orchestration.pipeline import failure_reasons

    home = tmp_path / "home"
    shutil.copytree(clean_demo[0], home)
    shutil.rmtree(DataHome(home).archive / "chain")  # as if no attestation had read the day
    path = Lake(home).partition_path("chain_events", FIRST)
    flip_a_byte(path)
    journal_before = table_digest(home, "main.journal_lines", JOURNAL_ORDER)
    run = ledger_of(home, LAST)
    assert not run.success
    (reason,) = [r for r in failure_reasons(run) if "lake files changed" in r]
    assert str(path) in reason
    assert "`backed backfill --from 2026-01-01 --to 2026-01-01 --select 'group:chain'`" in reason
    assert table_digest(home, "main.journal_lines", JOURNAL_ORDER) == journal_before  # nothing built from it


def small_disk(path, megabytes: int):
    """A file system of `megabytes` mounted at `path` (tmpfs; the tests run as root, as CI does)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.strip()}")


def fill(folder, leave_bytes: int = 0):
    """Fill the file system of `folder` up to `leave_bytes` free; returns the ballast file."""
    ballast = folder / "ballast"
    free = shutil.disk_usage(folder).free - leave_bytes
    with open(ballast, "wb") as sink:
        block = b"\0" * (1 << 20)
        while free > 0:
            try:
                free -= sink.write(block[:min(len(block), free)])
            except OSError:
                break
    return ballast


@pytest.mark.long
@pytest.mark.fault("the disk filling up during a lake write and during the ledger's build")
def test_a_full_disk_fails_the_day_with_a_clear_message_leaves_nothing_partial_and_the_next_run_succeeds(
        clean_demo, tmp_path, reliability):
    from assets.loan_tapes.tape import ingest_loan_tapes_day
    from orchestration.pipeline import failure_reasons, step_crashes

    disk = tmp_path / "disk"
    small_disk(disk, 96)
    try:
        home = disk / "home"
        shutil.copytree(clean_demo[0], home)
        # the Dagster instance elsewhere (as in PostgreSQL): what fills up is the lake's and the warehouse's disk
        shutil.move(home / "dagster", tmp_path / "dagster")
        (home / "dagster").symlink_to(tmp_path / "dagster")
        lake = Lake(home)
        before = lake_files(home)
        # a lake write with no space left: refused whole, the old partition and its digest untouched
        ballast = fill(disk)
        with pytest.raises(OSError, match="No space left on device"):
            ingest_loan_tapes_day(LAST, lake)
        assert lake_files(home) == before
        assert not [p for p in (home / "lake").rglob("*") if p.name.endswith(".tmp")]
        assert lake.corrupted_partitions() == []
        # the ledger's build with no space left: the day fails saying so, the journal is as it was
        ballast.unlink()
        journal_before = table_digest(home, "main.journal_lines", JOURNAL_ORDER)
        ballast = fill(disk, leave_bytes=64 * 1024)
        run = ledger_of(home, LAST)
        assert not run.success
        reasons = " ".join(failure_reasons(run))
        assert "is full" in reasons and "No space left on device" in reasons and "Free space there" in reasons
        assert "\x1b[" not in reasons
        ballast.unlink()
        assert table_digest(home, "main.journal_lines", JOURNAL_ORDER) == journal_before
        # space back: the same day builds, and the same ledger as the demo's
        run = ledger_of(home, LAST)
        assert run.success, step_crashes(run)
        after = table_digest(home, "main.journal_lines", JOURNAL_ORDER)
        reliability.compared(rows=after[0], lost=max(journal_before[0] - after[0], 0),
                             duplicates=max(after[0] - journal_before[0], 0))
        assert after == journal_before
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


@pytest.mark.long
@pytest.mark.fault("a warehouse file that cannot be opened, rebuilt from the lake and the last snapshot")
def test_a_warehouse_that_cannot_be_opened_is_named_and_rebuilt_by_the_command_the_error_names(clean_demo, tmp_path,
                                                                                              reliability):
    from click.testing import CliRunner

    from orchestration.cli import main
    from orchestration.pipeline import failure_reasons

    demo = clean_demo[0]
    home = tmp_path / "home"
    shutil.copytree(demo, home)
    warehouse = DataHome(home).warehouse
    with open(warehouse, "r+b") as damaged:  # its header gone, as after a failed disk or a partial copy
        damaged.write(b"\0" * 4096)
    advice = f"`backed --home {home} warehouse rebuild`"

    out = CliRunner().invoke(main, ["--home", str(home), "trail", "--account", "1020", "--date", LAST.isoformat()])
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert f"the warehouse {warehouse} cannot be opened" in out.stderr and advice in out.stderr
    run = ledger_of(home, LAST)
    assert not run.success
    assert any(f"the warehouse {warehouse} cannot be opened" in r and advice in r for r in failure_reasons(run)), \
        failure_reasons(run)

    out = CliRunner().invoke(main, ["--home", str(home), "warehouse", "rebuild"])
    assert out.exit_code == 0, out.output
    assert f"warehouse rebuilt for {FIRST} .. {LAST}" in out.stderr
    kept = list(home.glob("warehouse.duckdb.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_bytes()[:4096] == b"\0" * 4096  # the damaged file, for whoever looks
    # the same journal, line for line, as the demo's, and the same exceptions and trial balance
    for relation, order in (("main.journal_lines", JOURNAL_ORDER), ("recon.exceptions", "exception_id"),
                            ("main.trial_balance", "partition_date, account_code")):
        assert table_digest(home, relation, order) == table_digest(demo, relation, order), relation
    import duckdb

    keys = lambda h: duckdb.connect(str(DataHome(h).warehouse), read_only=True).execute(  # noqa: E731
        "select entry_id, line_no from main.journal_lines").fetchall()
    assert reliability.compare_rows(keys(demo), keys(home)) == (0, 0)
    assert "journal_lines" in (DataHome(home).snapshot_manifest.read_text())
