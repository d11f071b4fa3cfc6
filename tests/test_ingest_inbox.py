"""The inbox: files recognised by their content, deduplicated by sha256, routed to the day their content names,
archived under their hash and never deleted, corrected tapes superseding earlier ones on the record; the same
from `backed ingest` and from the Dagster sensor."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assets.inbox.register import DUPLICATE, REJECTED, ROUTED, read_receipts, record_routed
from assets.inbox.intake import take_in_inbox, take_in_paths
from foundation.lake import Lake
from assets.custodian.statements import ingest_custodian_day
from assets.loan_tapes.tape import ingest_loan_tapes_day
from orchestration.cli.ingest import ingest
from foundation.home_resource import BackedHome
from orchestration.sensors import inbox_sensor
from sandbox.file_drops import (
    GpuFeed,
    LoanTapeRow,
    StatementRow,
    write_cash_statement,
    write_dcgm_json_lines,
    write_dcgm_scrapes,
    write_gpu_inventory,
    write_holdings_statement,
    write_lender_a_workbook,
    write_lender_b_csv,
    write_loan_tape,
)

DAY = date(2026, 1, 5)
HASH_1, HASH_2 = "0x" + "11" * 32, "0x" + "22" * 32
GPU = GpuFeed("GPU-0a1b2c3d-0000-4000-8000-000000000001", "1652922000001", 0, "node-01", "NVIDIA H200", 70, 60,
              700_000)


def tape_row(lender: str, hash_: str = HASH_1, as_of: date = DAY, **changes) -> LoanTapeRow:
    row = dict(
        as_of_date=as_of, lender_id=lender, loan_id="L-1", loan_terms_hash=hash_, borrower_id="B-1",
        borrower_name="Helios Compute Ltd", currency="USDC", original_principal=Decimal("500000"),
        principal_outstanding=Decimal("500000"), accrued_interest=Decimal("102.739726"),
        daily_interest=Decimal("102.739726"), interest_rate_bps=750, status="current", days_past_due=0,
        origination_date=date(2026, 1, 4), maturity_date=date(2027, 1, 4), collateral=f"1001={GPU.serial}",
        insurance_cover_ratio=Decimal("0.70"), insurance_waiting_period_days=21,
    )
    row.update(changes)
    return LoanTapeRow(**row)


STATEMENT = [
    StatementRow("opening_cash", amount=Decimal("100.00")),
    StatementRow("holding", cusip="912797LB1", security_description="US T-Bill", maturity_date=date(2026, 3, 26),
                 par_value=Decimal("1000"), price=Decimal("99"), market_value=Decimal("990.00")),
    StatementRow("closing_cash", amount=Decimal("100.00")),
]


class Clock:
    """Receipt times one minute apart, so the order of receipt is known."""

    def __init__(self, start: datetime = datetime(2026, 1, 6, 8, 0)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(tmp_path / "home")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_files_are_recognised_by_content_whatever_their_name_or_folder(lake):
    drops = {
        "Loan Book Export (3).xlsx": lambda p: write_lender_a_workbook(p, DAY, [tape_row("lender-a")]),
        "telemetry/servicer upload.txt": lambda p: write_lender_b_csv(p, [tape_row("lender-b", HASH_2)]),
        "custodian/statement.dat": lambda p: write_holdings_statement(p, DAY, "ACC-1", STATEMENT),
        "loan_tapes/cash": lambda p: write_cash_statement(p, DAY, "ACC-1", STATEMENT),
        "metrics": lambda p: write_dcgm_scrapes(p, DAY, [GPU], 3600, seed=1),
        "deeper/still/dcgm.json": lambda p: write_dcgm_json_lines(p, DAY + timedelta(days=1), [GPU], 3600, seed=1),
    }
    for name, write in drops.items():
        write(lake.home.inbox / name)
    hashes = {Path(name).name: sha256(lake.home.inbox / name) for name in drops}
    results = {r.file_name: r for r in take_in_inbox(lake, clock=Clock())}
    seen = {name: (r.status, r.source, r.recognition.format, r.recognition.producer_id, r.partition)
            for name, r in results.items()}
    assert seen == {
        "Loan Book Export (3).xlsx": (ROUTED, "loan_tapes", "loan_tape_xlsx", "lender-a", DAY),
        "servicer upload.txt": (ROUTED, "loan_tapes", "loan_tape_csv", "lender-b", DAY),
        "statement.dat": (ROUTED, "custodian", "semt.002.001.11", "custodian-a", DAY),
        "cash": (ROUTED, "custodian", "camt.053.001.08", "custodian-a", DAY),
        "metrics": (ROUTED, "telemetry", "dcgm_prometheus", "dcgm", DAY),
        "dcgm.json": (ROUTED, "telemetry", "dcgm_jsonl", "dcgm", DAY + timedelta(days=1)),
    }
    for name, result in results.items():
        assert result.archive_path == (lake.home.archive / result.source / result.partition.isoformat()
                                       / f"{hashes[name]}-{name}")
        assert sha256(result.archive_path) == hashes[name]
    assert [p for p in lake.home.inbox.rglob("*") if p.is_file() and lake.home.archive not in p.parents] == []
    receipts = read_receipts(lake)
    assert sorted(receipts["file_name"].to_list()) == sorted(hashes)
    assert set(receipts["status"]) == {ROUTED}


def test_the_same_file_dropped_twice_is_ingested_once_and_both_drops_are_kept(lake):
    write_loan_tape(lake.home.inbox / "acme-2026-01-05.csv", [tape_row("acme")])
    first = sha256(lake.home.inbox / "acme-2026-01-05.csv")
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert summary.rows_accepted == 1
    # the same bytes again, under another name, in another folder
    write_loan_tape(lake.home.inbox / "resent" / "tape (copy).csv", [tape_row("acme")])
    (again,) = take_in_inbox(lake)
    assert (again.status, again.duplicate_of, again.partition) == (DUPLICATE, "acme-2026-01-05.csv", DAY)
    assert again.archive_path == lake.home.archive / "duplicates" / f"{first}-tape (copy).csv"
    assert again.archive_path.exists()
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert summary.file_name == "acme-2026-01-05.csv"
    assert lake.read_table("input_files", DAY).column("file_name").to_pylist() == ["acme-2026-01-05.csv"]
    assert lake.read_table("loan_tapes", DAY).num_rows == 1
    receipts = read_receipts(lake).sort("received_at")
    assert receipts.select("file_name", "status").rows() == [("acme-2026-01-05.csv", ROUTED),
                                                             ("tape (copy).csv", DUPLICATE)]


def test_a_resent_file_is_known_by_its_sha256_without_reading_the_register_and_from_a_register_before_the_index(
        lake):
    write_loan_tape(lake.home.inbox / "acme-2026-01-05.csv", [tape_row("acme")])
    (first,) = take_in_inbox(lake)
    index = lake.root / "inbox_receipts" / "_routed"
    assert (index / first.sha256[:2] / first.sha256).read_text() == DAY.isoformat()

    # The lookup reads the one day its marker names: another day's register, unreadable, is not opened.
    other_day = lake.partition_path("inbox_receipts", DAY + timedelta(days=3))
    other_day.parent.mkdir(parents=True)
    other_day.write_bytes(b"not parquet")
    write_loan_tape(lake.home.inbox / "copy.csv", [tape_row("acme")])
    (again,) = take_in_inbox(lake)
    assert (again.status, again.duplicate_of) == (DUPLICATE, "acme-2026-01-05.csv")
    other_day.unlink()

    # A home whose register predates the index: indexed once, on first use, and the re-sent file still known.
    shutil.rmtree(index)
    write_loan_tape(lake.home.inbox / "copy 2.csv", [tape_row("acme")])
    (third,) = take_in_inbox(lake)
    assert (third.status, third.duplicate_of) == (DUPLICATE, "acme-2026-01-05.csv")
    assert (index / ".complete").is_file() and (index / first.sha256[:2] / first.sha256).is_file()


def test_a_marker_without_its_receipt_does_not_make_a_file_a_duplicate(lake):
    # Intake stopped after writing the marker and before the receipt: the file was never routed, and is routed now.
    write_loan_tape(lake.home.inbox / "acme-2026-01-05.csv", [tape_row("acme")])
    digest = sha256(lake.home.inbox / "acme-2026-01-05.csv")
    record_routed(lake, digest, DAY)
    (result,) = take_in_inbox(lake)
    assert (result.status, result.partition) == (ROUTED, DAY)
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert summary.rows_accepted == 1


def test_a_file_is_routed_to_the_day_its_rows_name_not_the_day_in_its_name(lake):
    write_loan_tape(lake.home.inbox / "acme-2026-01-09.csv",
                    [tape_row("acme", as_of=date(2026, 1, 3), origination_date=date(2026, 1, 2))])
    (result,) = take_in_inbox(lake)
    assert result.partition == date(2026, 1, 3)
    assert ingest_loan_tapes_day(date(2026, 1, 9), lake) == []
    (summary,) = ingest_loan_tapes_day(date(2026, 1, 3), lake)
    assert (summary.file_name, summary.rows_accepted) == ("acme-2026-01-09.csv", 1)


def test_a_corrected_tape_supersedes_the_earlier_one_on_the_record_and_the_earlier_one_stays_archived(lake):
    clock = Clock()
    path = lake.home.inbox / "acme-2026-01-05.csv"
    versions = [Decimal("500000"), Decimal("499000"), Decimal("498000")]
    received = []
    for outstanding in versions:
        write_loan_tape(path, [tape_row("acme", principal_outstanding=outstanding)])
        (result,) = take_in_inbox(lake, clock=clock)
        received.append((result.sha256, clock.now))
        take_in_inbox(lake)
        ingest_loan_tapes_day(DAY, lake)
        (row,) = lake.read_table("loan_tapes", DAY).to_pylist()
        assert row["principal_outstanding"] == outstanding and row["source_sha256"] == result.sha256
    supersessions = lake.read_table("loan_tape_supersessions", DAY).to_pylist()
    assert [(s["superseded_sha256"], s["superseded_received_at"], s["superseding_sha256"], s["superseded_at"])
            for s in supersessions] == [
        (received[0][0], received[0][1], received[1][0], received[1][1]),
        (received[1][0], received[1][1], received[2][0], received[2][1]),
    ]
    assert {(s["lender_id"], s["as_of_date"], s["superseded_file"], s["superseding_file"]) for s in supersessions} == {
        ("acme", DAY, "acme-2026-01-05.csv", "acme-2026-01-05.csv")}
    # every version is still in the archive; only the current one is in the day's manifest
    assert all((lake.home.archive / "loan_tapes" / DAY.isoformat() / f"{sha}-acme-2026-01-05.csv").exists()
               for sha, _ in received)
    assert lake.read_table("input_files", DAY).column("sha256").to_pylist() == [received[2][0]]
    # another lender's tape of the same day is another document: nothing supersedes it
    write_loan_tape(lake.home.inbox / "beta.csv", [tape_row("beta", HASH_2)])
    take_in_inbox(lake)
    assert len(ingest_loan_tapes_day(DAY, lake)) == 2
    assert lake.read_table("loan_tape_supersessions", DAY).num_rows == 2


def test_a_re_sent_statement_supersedes_the_earlier_one_and_other_statements_of_the_day_all_count(lake):
    clock = Clock()
    corrected = [StatementRow("opening_cash", amount=Decimal("100.00")),
                 StatementRow("closing_cash", amount=Decimal("250.00"))]
    write_cash_statement(lake.home.inbox / "cash.xml", DAY, "ACC-1", STATEMENT)
    take_in_inbox(lake, clock=clock)
    write_cash_statement(lake.home.inbox / "cash-resent.xml", DAY, "ACC-1", corrected)
    take_in_inbox(lake, clock=clock)
    # Statements that are not versions of each other: another kind (holdings), another account.
    write_holdings_statement(lake.home.inbox / "holdings.xml", DAY, "ACC-1", STATEMENT)
    write_cash_statement(lake.home.inbox / "cash-acc-2.xml", DAY, "ACC-2", STATEMENT)
    take_in_inbox(lake, clock=clock)
    ingest_custodian_day(DAY, lake)
    rows = lake.read_table("custodian_statements", DAY).to_pylist()
    closing = sorted((r["account_id"], r["amount"]) for r in rows if r["record_type"] == "closing_cash")
    assert closing == [("ACC-1", Decimal("250.00")), ("ACC-2", Decimal("100.00"))]
    assert {r["source_file"] for r in rows} == {"cash-resent.xml", "holdings.xml", "cash-acc-2.xml"}
    (supersession,) = lake.read_table("custodian_statement_supersessions", DAY).to_pylist()
    assert (supersession["custodian_id"], supersession["statement_date"], supersession["superseded_file"],
            supersession["superseding_file"]) == ("custodian-a", DAY, "cash.xml", "cash-resent.xml")
    assert supersession["document_key"] == f"custodian:custodian-a:ACC-1:cash:{DAY.isoformat()}"
    assert sorted(lake.read_table("input_files", DAY).column("file_name").to_pylist()) == [
        "cash-acc-2.xml", "cash-resent.xml", "holdings.xml"]


def test_a_file_that_cannot_be_routed_is_archived_with_its_reason_never_deleted(lake):
    (lake.home.inbox / "notes.txt").parent.mkdir(parents=True)
    (lake.home.inbox / "notes.txt").write_text("hello, this is not a tape\nsecond line\n")
    (lake.home.inbox / "empty.csv").write_bytes(b"")
    write_loan_tape(lake.home.inbox / "tomorrow.csv", [tape_row("acme", as_of=date(2026, 1, 7))])
    clock = Clock(datetime(2026, 1, 5, 12, 0))
    results = {r.file_name: r for r in take_in_inbox(lake, clock=clock)}
    assert {name: (r.status, r.recognition.problem) for name, r in results.items()} == {
        "notes.txt": (REJECTED, "unrecognised_content"),
        "empty.csv": (REJECTED, "empty_file"),
        "tomorrow.csv": (REJECTED, "future_date"),
    }
    for name, result in results.items():
        assert result.archive_path.parent == lake.home.archive / "rejected" / DAY.isoformat()
        assert result.archive_path.exists()
        (entry,) = pq.read_table(lake.rejected_file_quarantine_path(DAY, name, result.sha256)).to_pylist()
        assert (entry["source_file"], entry["source_row"], entry["reason"]) == (name, 0, result.recognition.problem)
    # dropped again once its day has come, the same tape is taken in (a rejection is not a receipt to dedupe on)
    write_loan_tape(lake.home.inbox / "tomorrow.csv", [tape_row("acme", as_of=date(2026, 1, 7))])
    (again,) = take_in_inbox(lake, clock=Clock(datetime(2026, 1, 8, 9, 0)))
    assert (again.status, again.partition) == (ROUTED, date(2026, 1, 7))


def test_backed_ingest_prints_per_file_source_partition_rows_and_reasons(lake, tmp_path):
    outside = tmp_path / "downloads"
    write_lender_b_csv(outside / "lender-b.csv", [tape_row("lender-b"), tape_row("lender-b", HASH_2, currency="EUR")])
    write_dcgm_scrapes(outside / "dcgm.prom", DAY, [GPU], 600, seed=4)
    write_gpu_inventory(outside / "gpu-inventory-2026-01-05.csv", [GPU])  # the UUID's serial: the exporter has none
    write_holdings_statement(outside / "holdings.xml", DAY, "ACC-1", STATEMENT)
    (outside / "junk.bin").write_bytes(b"\x00\x01binary")
    runner = CliRunner()
    result = runner.invoke(ingest, [str(outside)], obj={"home": lake.home.root})
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert "dcgm.prom: telemetry (dcgm_prometheus), partition 2026-01-05, 576 rows accepted, 0 quarantined" in lines
    assert "holdings.xml: custodian (semt.002.001.11), partition 2026-01-05, 1 rows accepted, 0 quarantined" in lines
    assert ("gpu-inventory-2026-01-05.csv: telemetry (nvidia_smi_csv), partition 2026-01-05, 1 rows accepted, "
            "0 quarantined") in lines
    assert "lender-b.csv: loan_tapes (loan_tape_csv), partition 2026-01-05, 1 rows accepted, 1 quarantined" in lines
    assert "    unknown_currency: 1" in lines
    assert ("    lender-b.csv: row 2, field currency: unknown_currency (value 'EUR') [file row 3, column 'Ccy']"
            in lines)
    assert any(line.startswith("junk.bin: rejected, unrecognised_content") for line in lines)
    # files outside the inbox are copied, not moved
    assert (outside / "lender-b.csv").exists()
    # the same files again: duplicates, not ingested twice
    again = runner.invoke(ingest, [str(outside / "dcgm.prom")], obj={"home": lake.home.root})
    assert again.exit_code == 0
    assert again.output.startswith("dcgm.prom: duplicate of dcgm.prom received ")
    assert lake.read_table("gpu_telemetry_daily", DAY).num_rows == 1
    assert lake.read_table("collateral_gpu_daily", DAY).to_pylist()[0]["reporting"] is True


def test_the_sensor_takes_files_in_and_asks_for_one_run_per_day_once(lake):
    write_loan_tape(lake.home.inbox / "a.csv", [tape_row("acme")])
    write_dcgm_scrapes(lake.home.inbox / "b.prom", DAY, [GPU], 600, seed=5)
    write_loan_tape(lake.home.inbox / "c.csv", [tape_row("acme", as_of=date(2026, 1, 4))])
    resources = {"backed_home": BackedHome(home=str(lake.home))}
    with dg.build_sensor_context(resources=resources) as context:
        requests = list(inbox_sensor(context))
        assert sorted(r.partition_key for r in requests) == ["2026-01-04", "2026-01-05"]
        assert [p for p in lake.home.inbox.glob("*") if p.is_file()] == []
        # nothing new: no run; a file taken in elsewhere (an ingest run) is still noticed
        assert [type(r).__name__ for r in inbox_sensor(context)] == ["SkipReason"]
        write_loan_tape(lake.home.inbox / "d.csv", [tape_row("acme", as_of=date(2026, 1, 3))])
        take_in_paths(lake, [lake.home.inbox / "d.csv"])
        (request,) = list(inbox_sensor(context))
        assert request.partition_key == "2026-01-03"
        assert request.run_key.startswith("2026-01-03:")


def test_the_sensor_reads_only_the_register_days_written_since_its_last_tick(lake):
    write_loan_tape(lake.home.inbox / "a.csv", [tape_row("acme")])
    write_loan_tape(lake.home.inbox / "b.csv", [tape_row("acme", as_of=date(2026, 1, 4))])
    resources = {"backed_home": BackedHome(home=str(lake.home))}
    with dg.build_sensor_context(resources=resources) as context:
        assert sorted(r.partition_key for r in inbox_sensor(context)) == ["2026-01-04", "2026-01-05"]
        # 2026-01-04's register file, last written an hour before that tick and unreadable now: a tick that read
        # the whole register would fail on it
        old_day = lake.partition_path("inbox_receipts", date(2026, 1, 4))
        written = old_day.stat().st_mtime - 3600
        old_day.write_bytes(b"not a parquet file")
        os.utime(old_day, (written, written))
        write_loan_tape(lake.home.inbox / "c.csv", [tape_row("acme", hash_=HASH_2)])
        (request,) = list(inbox_sensor(context))
        assert request.partition_key == DAY.isoformat()
        assert [type(r).__name__ for r in inbox_sensor(context)] == ["SkipReason"]


def test_a_sources_day_reads_only_the_files_taken_in(lake):
    """A source's day is the files routed to it: its ingest takes nothing in itself (the run did, once)."""
    write_loan_tape(lake.home.inbox / "acme.csv", [tape_row("acme")])
    assert ingest_loan_tapes_day(DAY, lake) == []
    assert (lake.home.inbox / "acme.csv").exists()
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert (summary.file_name, summary.rows_accepted) == ("acme.csv", 1)


def test_a_run_takes_the_inbox_in_once_before_the_sources_read_their_days(lake, monkeypatch):
    import assets.inbox.assets as inbox_assets
    from assets.custodian.assets import custodian_ingestion
    from assets.loan_tapes.assets import loan_tape_ingestion
    from assets.telemetry.assets import gpu_telemetry_daily

    write_loan_tape(lake.home.inbox / "acme.csv", [tape_row("acme")])
    write_dcgm_scrapes(lake.home.inbox / "fleet.prom", DAY, [GPU], 600, seed=5)
    write_holdings_statement(lake.home.inbox / "holdings.xml", DAY, "ACC-1", STATEMENT)
    intakes = []
    monkeypatch.setattr(inbox_assets, "take_in_inbox", lambda lake: intakes.append(lake) or take_in_inbox(lake))
    result = dg.materialize([inbox_assets.inbox_receipts, loan_tape_ingestion, gpu_telemetry_daily,
                             custodian_ingestion], partition_key=DAY.isoformat(),
                            resources={"backed_home": BackedHome(home=str(lake.home))})
    assert result.success and len(intakes) == 1
    materialised = {event.asset_key.to_user_string(): event.materialization.metadata
                    for event in result.get_asset_materialization_events()}
    assert materialised["inbox_receipts"]["files_taken_in"].value == 3
    accepted = {key: metadata["rows_accepted"].value for key, metadata in materialised.items()
                if "rows_accepted" in metadata}
    assert accepted["loan_tapes"] == 1 and accepted["custodian_statements"] > 0 and accepted["gpu_telemetry_daily"] > 0
    assert [p for p in lake.home.inbox.glob("*") if p.is_file()] == []
