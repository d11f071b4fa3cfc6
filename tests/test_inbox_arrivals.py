"""Files still arriving in the inbox (assets/inbox/arrivals.py): each is taken in once, complete, never half.

Each upload is a real writer in a process of its own, writing a lender's tape of many loans into `inbox/` the way
one kind of producer does, while intake looks at the inbox again and again as the sensor does. The slow writer's
length is BACKED_SLOW_UPLOAD_SECONDS (4 s in `make test`; `make reliability` sets 65, over a minute). Every look
before the writer is done leaves the file waiting and archives nothing; the first look after takes it in once, and
its rows reach the lake, all of them, once.
"""
import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from assets.inbox.arrivals import QUIET_SECONDS_ENV, UNCHECKED_QUIET_SECONDS, still_arriving
from assets.inbox.intake import STILL_ARRIVING, WAITING, take_in_inbox
from assets.inbox.register import REJECTED, ROUTED, read_receipts, sha256_of
from assets.loan_tapes.tape import ingest_loan_tapes_day
from foundation.lake import Lake
from sandbox.file_drops import LoanTapeRow, delivered_as_of, write_loan_tape

DAY = date(2026, 1, 5)
SLOW_SECONDS = float(os.environ.get("BACKED_SLOW_UPLOAD_SECONDS", "4"))
LOANS = 400


def tape_rows() -> list[LoanTapeRow]:
    return [LoanTapeRow(
        as_of_date=DAY, lender_id="acme", loan_id=f"L-{n}", loan_terms_hash="0x" + f"{n:064x}", borrower_id="B-1",
        borrower_name="Helios Compute Ltd", currency="USDC", original_principal=Decimal("500000"),
        principal_outstanding=Decimal("500000"), accrued_interest=Decimal("102.739726"),
        daily_interest=Decimal("102.739726"), interest_rate_bps=750, status="current", days_past_due=0,
        origination_date=date(2026, 1, 4), maturity_date=date(2027, 1, 4), collateral=None,
        insurance_cover_ratio=None, insurance_waiting_period_days=None) for n in range(1, LOANS + 1)]


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(tmp_path / "home")


@pytest.fixture
def tape(tmp_path) -> Path:
    """The whole tape, written outside the inbox: what each upload delivers."""
    path = tmp_path / "upload" / "acme-2026-01-05.csv"
    path.parent.mkdir()
    write_loan_tape(path, tape_rows())
    return path


# Uploads, each run by a process of its own: (source, target, seconds) from argv.
UPLOADS = {
    # a slow copy: one open, the bytes in chunks over the whole time
    "slow copy": """
        with open(target, "wb") as sink:
            for start in range(0, len(content), step):
                sink.write(content[start:start + step]); sink.flush(); time.sleep(pause)
    """,
    # closes the file between chunks and opens it again to append (a producer that reconnects)
    "reopening appends": """
        for start in range(0, len(content), step):
            with open(target, "ab") as sink:
                sink.write(content[start:start + step])
            time.sleep(pause)
    """,
    # SFTP-style: the file at its full size at once (zeros), then its bytes written at offsets, last chunk first
    "full size, then filled": """
        with open(target, "wb") as sink:
            sink.truncate(len(content)); sink.flush()
            for start in reversed(range(0, len(content), step)):
                sink.seek(start); sink.write(content[start:start + step]); sink.flush(); time.sleep(pause)
    """,
    # written under a temporary name and renamed in whole (rsync, most SFTP clients' "temporary file" option)
    "renamed in when complete": """
        for partial in (target.with_name("." + target.name + ".tmp"), target.with_name(target.name + ".part")):
            with open(partial, "wb") as sink:
                for start in range(0, len(content), step):
                    sink.write(content[start:start + step]); sink.flush(); time.sleep(pause / 2)
        os.replace(target.with_name("." + target.name + ".tmp"), target)
        os.replace(target.with_name(target.name + ".part"), target)
    """,
}


def start_upload(kind: str, source: Path, target: Path, seconds: float) -> subprocess.Popen:
    program = textwrap.dedent("""
        import os, sys, time
        from pathlib import Path
        source, target, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
        content = source.read_bytes()
        chunks = 8
        step = -(-len(content) // chunks)
        pause = seconds / chunks
    """) + textwrap.dedent(UPLOADS[kind])
    target.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-c", program, str(source), str(target), str(seconds)])


def looks_until_done(lake: Lake, upload: subprocess.Popen, every: float = 0.25) -> tuple[list, list]:
    """Intake's looks while the upload's process runs (results of each), then the looks after it ended until one
    took the file in (at most 30 s of them). The writer closes the file a moment before its process ends: a look in
    that moment may take the file in, complete, while the process still runs."""
    during, after = [], []
    while upload.poll() is None:
        during.append(take_in_inbox(lake))
        time.sleep(every)
    assert upload.returncode == 0
    deadline = time.monotonic() + 30
    taken = any(result.status != WAITING for results in during for result in results)
    while not taken and time.monotonic() < deadline:
        results = take_in_inbox(lake)
        after.append(results)
        taken = any(result.status != WAITING for result in results)
        if not taken:
            time.sleep(every)
    return during, after


@pytest.mark.fault("files still arriving in the inbox: a slow copy, a reopening writer, an SFTP-style upload at full "
                   "size then filled, a file renamed in when complete")
@pytest.mark.parametrize("kind", list(UPLOADS))
def test_a_file_still_arriving_is_taken_in_once_complete_never_half(kind, lake, tape, monkeypatch, reliability):
    # the reopening writer leaves the file closed between its chunks: only the quiet period sees it is not done
    monkeypatch.setenv(QUIET_SECONDS_ENV, str(SLOW_SECONDS / 4 + 1) if kind == "reopening appends" else "0")
    target = lake.home.inbox / "loan_tapes" / tape.name
    during, after = looks_until_done(lake, start_upload(kind, tape, target, SLOW_SECONDS))

    assert len(during) >= 4, "intake looked while the file was written"
    looks = [result for results in [*during, *after] for result in results]
    waiting = [result for result in looks if result.status == WAITING]
    if kind != "renamed in when complete":  # a temporary name is not even looked at
        assert len(waiting) >= 4 and all(result.recognition.problem == STILL_ARRIVING for result in waiting)
    # taken in once, whole: never a look at a part of it (a look after the writer closed it may come before its
    # process has ended)
    taken = [result for result in looks if result.status != WAITING]
    assert [(result.status, result.sha256) for result in taken] == [(ROUTED, sha256_of(tape))]
    assert not target.exists() and not any(target.parent.iterdir())  # archived, nothing left behind
    assert read_receipts(lake).select("file_name", "status").rows() == [(tape.name, ROUTED)]
    assert take_in_inbox(lake) == []  # once

    (summary,) = ingest_loan_tapes_day(DAY, lake)
    ingested = lake.read_table("loan_tapes", DAY).column("loan_id").to_pylist()
    assert summary.rows_quarantined == 0
    assert reliability.compare_rows([row.loan_id for row in tape_rows()], ingested) == (0, 0)


def test_a_file_that_changes_while_it_is_read_is_left_for_the_next_look(lake, tape, monkeypatch):
    import assets.inbox.intake as intake

    target = lake.home.inbox / tape.name
    target.parent.mkdir(parents=True)
    target.write_bytes(tape.read_bytes()[:-200])  # most of it, closed: then the writer comes back during the read
    reading = intake.sha256_of

    def read_while_written(path: Path) -> str:
        digest = reading(path)
        with open(path, "ab") as sink:
            sink.write(tape.read_bytes()[-200:])
        return digest

    monkeypatch.setattr(intake, "sha256_of", read_while_written)
    (result,) = take_in_inbox(lake)
    assert (result.status, result.recognition.problem) == (WAITING, STILL_ARRIVING)
    assert result.recognition.detail.startswith("changed while it was read")
    assert not lake.home.archive.exists() or not any(lake.home.archive.rglob("*.csv"))
    monkeypatch.setattr(intake, "sha256_of", reading)
    (result,) = take_in_inbox(lake)
    assert (result.status, result.sha256) == (ROUTED, sha256_of(tape))


@pytest.mark.bad_input
def test_only_regular_files_are_taken_in_a_fifo_or_socket_is_refused_without_being_read(lake):
    inbox = lake.home.inbox
    inbox.mkdir(parents=True)
    os.mkfifo(inbox / "statement.xml")  # reading it would wait forever for a writer
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(inbox / "upload.sock"))
    try:
        results = {result.file_name: result for result in take_in_inbox(lake)}
    finally:
        server.close()
    assert {name: (r.status, r.recognition.problem) for name, r in results.items()} == {
        "statement.xml": (REJECTED, "not_a_regular_file"), "upload.sock": (REJECTED, "not_a_regular_file")}
    assert "named pipe (FIFO)" in results["statement.xml"].recognition.detail
    assert not (inbox / "statement.xml").exists() and not (inbox / "upload.sock").exists()
    assert take_in_inbox(lake) == []


def test_a_file_dated_in_the_future_by_a_skewed_clock_waits_with_a_reason(lake, tape, monkeypatch):
    monkeypatch.setenv(QUIET_SECONDS_ENV, "5")
    target = lake.home.inbox / tape.name
    target.parent.mkdir(parents=True)
    target.write_bytes(tape.read_bytes())
    ahead = time.time() + 3600
    os.utime(target, (ahead, ahead))
    (result,) = take_in_inbox(lake)
    assert result.status == WAITING
    assert "in the future by this machine's clock (the writer's clock is ahead)" in result.recognition.detail
    assert still_arriving(target, now=ahead + 6) is None  # once that time and the quiet period have passed


def test_where_writers_cannot_be_checked_the_longer_quiet_period_applies(lake, tape, monkeypatch):
    import assets.inbox.arrivals as arrivals

    monkeypatch.delenv(QUIET_SECONDS_ENV)
    monkeypatch.setattr(arrivals, "open_for_writing", lambda path: None)  # a network share, another owner
    target = lake.home.inbox / tape.name
    target.parent.mkdir(parents=True)
    target.write_bytes(tape.read_bytes())
    reason = still_arriving(target)
    assert reason is not None and f"quiet period of {UNCHECKED_QUIET_SECONDS:.0f} s" in reason
    assert "cannot be checked here" in reason
    assert still_arriving(target, now=time.time() + UNCHECKED_QUIET_SECONDS + 1) is None


def test_backed_ingest_refuses_a_file_still_open_for_writing_and_takes_a_closed_one_at_once(lake, tape, monkeypatch):
    from orchestration.cli import main

    monkeypatch.delenv(QUIET_SECONDS_ENV)  # the default: a person naming a file is not held to the quiet period
    target = lake.home.root / "uploads" / tape.name
    target.parent.mkdir(parents=True)
    with open(target, "wb") as sink:
        sink.write(tape.read_bytes()[:100])
        sink.flush()
        out = CliRunner().invoke(main, ["--home", str(lake.home.root), "ingest", str(target)])
    assert out.exit_code == 1
    assert f"{tape.name}: not taken in, open for writing by another process" in out.output
    target.write_bytes(tape.read_bytes())  # complete now, closed a moment ago
    out = CliRunner().invoke(main, ["--home", str(lake.home.root), "ingest", str(target)])
    assert out.exit_code == 0, out.output
    assert f"{LOANS} rows accepted" in out.output


def test_the_simulator_dates_its_files_as_delivered_after_their_day(tmp_path):
    path = tmp_path / "tape.csv"
    path.write_text("x")
    delivered_as_of([path], DAY)
    assert path.stat().st_mtime == pytest.approx(time.mktime((2026, 1, 6, 0, 30, 0, 0, 0, 0)) - time.timezone, abs=1)
    delivered_as_of([path], date.fromtimestamp(time.time() + 86_400 * 30))  # a simulated future: ten minutes ago
    assert time.time() - path.stat().st_mtime == pytest.approx(600, abs=5)
