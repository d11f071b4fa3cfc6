"""Every off-chain format lands the same rows as its plain equivalent: a lender's XLSX workbook and a lender's own
CSV layout as the tape schema's CSV, ISO 20022 semt.002 + camt.053 (each supported version) as the custodian CSV,
DCGM JSON lines as Prometheus text; telemetry streamed in small batches and many spill buckets as in one; and the
collateral schedule joined to the day's telemetry."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import polars as pl
import pytest

from assets.inbox.intake import take_in_inbox
from assets.telemetry import scrapes as telemetry
from assets.custodian.statements import ingest_custodian_day
from foundation.lake import Lake
from assets.loan_tapes.tape import ingest_loan_tapes_day
from assets.telemetry.scrapes import ingest_telemetry_day, join_collateral_telemetry
from sandbox.file_drops import (
    GpuFeed,
    LoanTapeRow,
    StatementRow,
    write_cash_statement,
    write_custodian_statement,
    write_dcgm_json_lines,
    write_dcgm_scrapes,
    write_gpu_inventory,
    write_holdings_statement,
    write_lender_a_workbook,
    write_lender_b_csv,
    write_loan_tape,
)

DAY = date(2026, 1, 5)
HASH_1, HASH_2, HASH_3 = ("0x" + c * 64 for c in "123")
LINEAGE = ("source_file", "source_sha256", "source_row")


def loan(lender: str, number: int, hash_: str, status: str = "current", **changes) -> LoanTapeRow:
    row = dict(
        as_of_date=DAY, lender_id=lender, loan_id=f"L-{number}", loan_terms_hash=hash_, borrower_id=f"B-{number}",
        borrower_name="Société Générale Compute, Inc.", currency="USDC", original_principal=Decimal("1000000"),
        principal_outstanding=Decimal("987654.321098"), accrued_interest=Decimal("41.09589"),
        daily_interest=Decimal("205.479452"), interest_rate_bps=750, status=status, days_past_due=0,
        origination_date=date(2025, 11, 1), maturity_date=date(2026, 11, 1),
        collateral="1001=1652922001234|1652922001235;1002=1652922001236",
        insurance_cover_ratio=Decimal("0.70"), insurance_waiting_period_days=21,
    )
    row.update(changes)
    return LoanTapeRow(**row)


def lake_rows(lake: Lake, table: str, day: date = DAY, drop: tuple[str, ...] = LINEAGE) -> list[dict]:
    rows = pl.from_arrow(lake.read_table(table, day)).drop(drop)
    return rows.sort(rows.columns).to_dicts()


@pytest.fixture
def lakes(tmp_path):
    return Lake(tmp_path / "plain"), Lake(tmp_path / "native")


# ---------------------------------------------------------------------------------------------- loan tapes

def test_a_lenders_xlsx_workbook_lands_the_same_rows_as_the_tape_schemas_csv(lakes):
    plain, native = lakes
    rows = [loan("lender-a", 1, HASH_1),
            loan("lender-a", 2, HASH_2, status="delinquent", days_past_due=3, insurance_cover_ratio=None,
                 insurance_waiting_period_days=None, collateral=""),
            loan("lender-a", 3, HASH_3, status="repaid", principal_outstanding=Decimal(0),
                 accrued_interest=Decimal(0), daily_interest=Decimal(0))]
    write_loan_tape(plain.home.inbox / "lender-a-2026-01-05.csv", rows)
    write_lender_a_workbook(native.home.inbox / "loan_tapes" / "Loan Book Export.xlsx", DAY, rows)
    take_in_inbox(plain)
    (csv_summary,) = ingest_loan_tapes_day(DAY, plain)
    take_in_inbox(native)
    (xlsx_summary,) = ingest_loan_tapes_day(DAY, native)
    assert (xlsx_summary.format, xlsx_summary.rows_in, xlsx_summary.rows_quarantined) == ("loan_tape_xlsx", 3, 0)
    assert (csv_summary.format, csv_summary.rows_quarantined) == ("loan_tape_csv", 0)
    assert lake_rows(native, "loan_tapes") == lake_rows(plain, "loan_tapes")
    assert lake_rows(native, "loan_collateral") == lake_rows(plain, "loan_collateral")
    first = next(r for r in lake_rows(native, "loan_tapes") if r["loan_id"] == "L-1")
    # exact decimals out of spreadsheet numbers, statuses in the schema's words, insurance cover as given
    assert first["principal_outstanding"] == Decimal("987654.321098")
    assert first["accrued_interest"] == Decimal("41.09589")
    assert (first["insurance_cover_ratio"], first["insurance_waiting_period_days"]) == (Decimal("0.7"), 21)
    assert {r["status"] for r in lake_rows(native, "loan_tapes")} == {"current", "delinquent", "repaid"}
    assert first["borrower_name"] == "Société Générale Compute, Inc."


def test_a_lenders_own_csv_layout_with_us_dates_lands_the_same_rows(lakes):
    plain, native = lakes
    rows = [loan("lender-b", 1, HASH_1), loan("lender-b", 2, HASH_2, insurance_cover_ratio=None,
                                               insurance_waiting_period_days=None)]
    write_loan_tape(plain.home.inbox / "lender-b-2026-01-05.csv", rows)
    write_lender_b_csv(native.home.inbox / "servicer_report.csv", rows)
    take_in_inbox(plain)
    ingest_loan_tapes_day(DAY, plain)
    take_in_inbox(native)
    (summary,) = ingest_loan_tapes_day(DAY, native)
    assert (summary.rows_in, summary.rows_quarantined) == (2, 0)
    assert lake_rows(native, "loan_tapes") == lake_rows(plain, "loan_tapes")


def test_a_spreadsheet_number_that_is_not_an_exact_decimal_and_a_timed_date_are_quarantined(tmp_path):
    lake = Lake(tmp_path / "home")
    path = tmp_path / "workbook.xlsx"
    write_lender_a_workbook(path, DAY, [loan("lender-a", 1, HASH_1),
                                        loan("lender-a", 2, HASH_2, accrued_interest=Decimal("12.5"))])
    workbook = openpyxl.load_workbook(path)
    workbook["Loan Tape"]["N5"] = datetime(2025, 11, 1, 9, 30)
    buffer = io.BytesIO()
    workbook.save(buffer)
    # Excel stores a formula's binary result with 17 significant digits (0.1 + 0.2 = 0.30000000000000004)
    repacked, replaced = io.BytesIO(), 0
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(repacked, "w") as target:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename.startswith("xl/worksheets/"):
                replaced += data.count(b"<v>12.5</v>")
                data = data.replace(b"<v>12.5</v>", b"<v>0.30000000000000004</v>")
            target.writestr(member, data)
    assert replaced == 1
    (lake.home.inbox / "tape.xlsx").parent.mkdir(parents=True)
    (lake.home.inbox / "tape.xlsx").write_bytes(repacked.getvalue())
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (2, 0, 2)
    assert summary.reasons == {"inexact_number": 1, "invalid_date": 1}
    assert set(summary.messages) == {
        "tape.xlsx: row 1, field origination_date: invalid_date (value '2025-11-01T09:30:00') "
        "[sheet 'Loan Tape' cell N5, column 'Funding Date']",
        "tape.xlsx: row 2, field accrued_interest: inexact_number (value '0.30000000000000004') "
        "[sheet 'Loan Tape' cell I6, column 'Accrued Interest']",
    }


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"insurance_cover_ratio": Decimal("1.5")}, "insurance_cover_ratio", "invalid_cover_ratio"),
    ({"insurance_waiting_period_days": None}, "insurance_waiting_period_days", "missing_value"),
    ({"insurance_cover_ratio": None}, "insurance_waiting_period_days", "waiting_period_without_cover"),
    ({"collateral": "1001=GPU-0A1B2C3D-0000-4000-8000-00000000000A"}, None, None),
    ({"collateral": "1001=GPU-xyz"}, "collateral", "invalid_gpu_serial"),
])
def test_insurance_and_collateral_rules(tmp_path, changes, field, reason):
    lake = Lake(tmp_path / "home")
    write_loan_tape(lake.home.inbox / "acme-2026-01-05.csv", [loan("acme", 1, HASH_1, **changes), loan("acme", 2, HASH_2)])
    take_in_inbox(lake)
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    if reason is None:
        assert summary.rows_quarantined == 0
        by_uuid = [r for r in lake_rows(lake, "loan_collateral") if r["gpu_uuid"]]
        assert by_uuid == [{"partition_date": DAY, "lender_id": "acme", "loan_terms_hash": HASH_1,
                            "nft_token_id": "1001", "gpu_serial": None,
                            "gpu_uuid": "GPU-0a1b2c3d-0000-4000-8000-00000000000a"}]
    else:
        assert (summary.rows_accepted, summary.reasons) == (1, {reason: 1})
        assert summary.messages[0].startswith(f"acme-2026-01-05.csv: row 1, field {field}: {reason}")


# ---------------------------------------------------------------------------------------------- custodian

STATEMENT = [
    StatementRow("opening_cash", amount=Decimal("1500000.00")),
    StatementRow("transaction", cusip="912797LB1", security_description="US T-Bill 2026-03-26",
                 par_value=Decimal("50000"), amount=Decimal("50000"), transaction_type="tbill_maturity",
                 reference="MAT-912797LB1-20260105"),
    StatementRow("transaction", amount=Decimal("250000.00"), transaction_type="cash_receipt", reference="0x" + "9f" * 32),
    StatementRow("transaction", cusip="912797MA2", security_description="US T-Bill 2026-04-02",
                 par_value=Decimal("1000000"), amount=Decimal("989123.45"), transaction_type="tbill_purchase",
                 reference="TB-20260105-01"),
    StatementRow("holding", cusip="912797MA2", security_description="US T-Bill 2026-04-02",
                 maturity_date=date(2026, 4, 2), par_value=Decimal("1000000"), price=Decimal("98.912345"),
                 market_value=Decimal("989123.45")),
    StatementRow("holding", cusip="912797NB9", security_description="US T-Bill 2026-03-05",
                 maturity_date=date(2026, 3, 5), par_value=Decimal("60000"), price=Decimal("99.4"),
                 market_value=Decimal("59640.00")),
    StatementRow("closing_cash", amount=Decimal("810876.55")),
]


@pytest.mark.parametrize(("holdings_version", "cash_version"), [
    ("semt.002.001.11", "camt.053.001.08"), ("semt.002.001.10", "camt.053.001.02"), ("semt.002.001.09", "camt.053.001.08"),
])
def test_iso20022_holdings_and_cash_statements_land_the_same_rows_as_the_custodian_csv(lakes, holdings_version,
                                                                                        cash_version):
    plain, native = lakes
    write_custodian_statement(plain.home.inbox / "custodian-a-2026-01-05.csv", DAY, "custodian-a", "ACC-1", STATEMENT)
    write_holdings_statement(native.home.inbox / "holdings.xml", DAY, "ACC-1", STATEMENT, version=holdings_version)
    write_cash_statement(native.home.inbox / "cash.xml", DAY, "ACC-1", STATEMENT, version=cash_version)
    take_in_inbox(plain)
    (csv_summary,) = ingest_custodian_day(DAY, plain)
    take_in_inbox(native)
    summaries = {s.format: s for s in ingest_custodian_day(DAY, native)}
    assert set(summaries) == {holdings_version, cash_version}
    assert (summaries[holdings_version].rows_in, summaries[cash_version].rows_in) == (2, 5)
    assert all(s.rows_quarantined == 0 for s in [csv_summary, *summaries.values()])
    assert lake_rows(native, "custodian_statements") == lake_rows(plain, "custodian_statements")
    assertions = {(r["account_code"], r["sub_account"], r["basis"]): (r["amount"], r["asserted_at"])
                  for r in lake_rows(native, "balance_assertions", drop=("source_file", "source_sha256"))}
    cut_off = datetime(2026, 1, 5, 23, 59, 59)
    assert assertions == {
        ("1000", "", "closing_cash"): (Decimal("810876.55"), cut_off),
        ("1010", "912797MA2", "holding"): (Decimal("989123.45"), cut_off),
        ("1010", "912797NB9", "holding"): (Decimal("59640"), cut_off),
        ("1010", None, "stated_holdings_total"): (Decimal("1048763.45"), cut_off),
    }
    # the custodian CSV asserts the same balances, its holdings total being their sum
    from_csv = {(r["account_code"], r["sub_account"]): r["amount"] for r in lake_rows(plain, "balance_assertions")}
    assert from_csv == {(code, sub): amount for (code, sub, _), (amount, _) in assertions.items()}


def test_a_statement_cut_off_with_an_offset_is_kept_in_utc(tmp_path):
    lake = Lake(tmp_path / "home")
    path = lake.home.inbox / "holdings.xml"
    write_holdings_statement(path, DAY, "ACC-1", STATEMENT)
    path.write_text(path.read_text().replace("2026-01-05T23:59:59Z", "2026-01-05T18:00:00-05:00"))
    take_in_inbox(lake)
    (summary,) = ingest_custodian_day(DAY, lake)
    assert summary.rows_quarantined == 0
    assert {r["cut_off_time"] for r in lake_rows(lake, "custodian_statements")} == {datetime(2026, 1, 5, 23, 0)}


# ---------------------------------------------------------------------------------------------- telemetry

GPUS = [
    GpuFeed(f"GPU-0a1b2c3d-0000-4000-8000-{n:012x}", f"16529220{n:05d}", n % 8, f"node-{n // 8:02d}",
            "NVIDIA H100 80GB HBM3", 60 + n, 55, 700_000, dark_from_s=(3600 * n if n in (3, 5) else None),
            xid_events=((4, 79), (9, 31)) if n == 2 else ())
    for n in range(1, 13)
]


def test_dcgm_json_lines_roll_up_exactly_like_prometheus_text(lakes):
    plain, native = lakes
    write_dcgm_scrapes(plain.home.inbox / "scrapes.prom", DAY, GPUS, 300, seed=1)
    write_dcgm_json_lines(native.home.inbox / "scrapes.jsonl", DAY, GPUS, 300, seed=1)
    take_in_inbox(plain)
    (prom,) = ingest_telemetry_day(DAY, plain)
    take_in_inbox(native)
    (jsonl,) = ingest_telemetry_day(DAY, native)
    assert (jsonl.format, prom.format) == ("dcgm_jsonl", "dcgm_prometheus")
    assert jsonl.rows_in == prom.rows_in == jsonl.rows_accepted > 0
    rollup = lake_rows(native, "gpu_telemetry_daily", drop=("source_file", "source_sha256"))
    assert rollup == lake_rows(plain, "gpu_telemetry_daily", drop=("source_file", "source_sha256"))
    assert len(rollup) == len(GPUS)
    by_uuid = {r["gpu_uuid"]: r for r in rollup}
    assert by_uuid[GPUS[1].uuid]["xid_error_samples"] == by_uuid[GPUS[1].uuid]["xid_errors"] == 2
    assert by_uuid[GPUS[2].uuid]["minutes_online"] == 3 * 60  # dark from 03:00
    assert by_uuid[GPUS[0].uuid]["minutes_online"] == 1440.0


def test_telemetry_streamed_in_small_batches_and_many_buckets_gives_the_same_day(lakes, monkeypatch):
    plain, native = lakes
    for lake in lakes:
        write_dcgm_scrapes(lake.home.inbox / "dcgm.prom", DAY, GPUS, 300, seed=2)
    # a broken line deep in the file: its number must survive the batching
    for lake in lakes:
        path = lake.home.inbox / "dcgm.prom"
        text = path.read_text().splitlines()
        text.insert(2000, 'DCGM_FI_DEV_GPU_UTIL{UUID="GPU-0a1b2c3d-0000-4000-8000-000000000001"} oops 1767571200000')
        path.write_text("\n".join(text) + "\n")
    take_in_inbox(plain)
    (whole,) = ingest_telemetry_day(DAY, plain)
    monkeypatch.setattr(telemetry, "BATCH_BYTES", 4096)
    monkeypatch.setattr(telemetry, "BUCKET_SOURCE_BYTES", 100_000)
    take_in_inbox(native)
    (batched,) = ingest_telemetry_day(DAY, native)
    assert (batched.rows_in, batched.rows_quarantined, batched.reasons) == (whole.rows_in, 1, {"invalid_value": 1})
    assert batched.messages == whole.messages
    assert batched.messages[0].startswith("dcgm.prom: row 2001, field value: invalid_value (value 'oops')")
    assert lake_rows(native, "gpu_telemetry_daily", drop=()) == lake_rows(plain, "gpu_telemetry_daily", drop=())


def test_xid_errors_of_a_counter_family_are_its_increase_over_the_day(tmp_path):
    lake = Lake(tmp_path / "home")
    uuid = GPUS[0].uuid
    t0 = 1767571200000
    counts = [5, 5, 7, 2, 4]  # +2, then a reset to 2 (2 new), then +2
    lines = ["# HELP DCGM_FI_DEV_XID_ERRORS XID errors since the exporter started.",
             "# TYPE DCGM_FI_DEV_XID_ERRORS counter",
             *(f'DCGM_FI_DEV_XID_ERRORS{{UUID="{uuid}",serial="1652922000001"}} {c} {t0 + i * 60_000}'
               for i, c in enumerate(counts))]
    (lake.home.inbox / "xid.prom").parent.mkdir(parents=True)
    (lake.home.inbox / "xid.prom").write_text("\n".join(lines) + "\n")
    take_in_inbox(lake)
    ingest_telemetry_day(DAY, lake)
    (gpu,) = lake_rows(lake, "gpu_telemetry_daily", drop=())
    assert (gpu["xid_errors"], gpu["xid_error_samples"], gpu["samples"]) == (6, 5, 5)


def test_collateral_gpus_are_joined_to_their_days_telemetry_by_serial_or_uuid(tmp_path):
    lake = Lake(tmp_path / "home")
    reporting, dark, by_uuid = GPUS[0], GPUS[1], GPUS[2]
    collateral = f"1001={reporting.serial}|{dark.serial};1002={by_uuid.uuid}"
    write_loan_tape(lake.home.inbox / "acme.csv", [loan("acme", 1, HASH_1, collateral=collateral)])
    write_dcgm_scrapes(lake.home.inbox / "dcgm.prom", DAY, [reporting, by_uuid, GPUS[6]], 600, seed=3)
    # the exporter writes no serial: the node's nvidia-smi inventory of the day before maps its UUIDs to serials
    write_gpu_inventory(lake.home.inbox / "gpu-inventory-2026-01-04.csv", GPUS)
    take_in_inbox(lake)
    ingest_telemetry_day(date(2026, 1, 4), lake)
    ingest_loan_tapes_day(DAY, lake)
    take_in_inbox(lake)
    ingest_telemetry_day(DAY, lake)
    assert join_collateral_telemetry(DAY, lake) == 1
    rows = {(r["gpu_serial"] or r["gpu_uuid"]): r for r in lake_rows(lake, "collateral_gpu_daily", drop=())}
    assert set(rows) == {reporting.serial, dark.serial, by_uuid.uuid}
    assert (rows[reporting.serial]["reporting"], rows[reporting.serial]["samples"]) == (True, 144)
    assert rows[reporting.serial]["gpu_uuid"] == reporting.uuid
    assert (rows[dark.serial]["reporting"], rows[dark.serial]["samples"], rows[dark.serial]["last_seen"]) == (False, 0, None)
    assert rows[by_uuid.uuid]["reporting"] and rows[by_uuid.uuid]["minutes_online"] == 3 * 60
    assert {r["source_file"] for r in rows.values()} == {"acme.csv"}
    assert rows[reporting.serial]["telemetry_source_file"] == "dcgm.prom"
