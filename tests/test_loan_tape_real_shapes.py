"""Loan tapes as lenders and their analysts really send them: the table under a title block, on whichever sheet of
a workbook holds it, a totals row and a note under the loans, cells merged over several loans, dates as Excel
serials (1900 and 1904 date systems), in the lender's day order or with month names, amounts with thousands
separators and dollar signs, rates as `7.5%` or a fraction. Each shape is read exactly, with its row counts, or
refused naming the sheet, the row and the column. The files are written here from the formats' public
descriptions (Office Open XML's worksheet, merge and number-format parts; common servicer tape layouts).
"""
from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from assets.inbox.counterparties import COUNTERPARTIES_FILE
from assets.inbox.intake import take_in_inbox
from assets.loan_tapes.tape import LOAN_TAPE_COLUMNS, ingest_loan_tapes_day
from foundation.lake import Lake

DAY = date(2026, 1, 5)
HASH_1, HASH_2 = "0x" + "a1" * 32, "0x" + "b2" * 32
SERIAL_2025_12_01 = (date(2025, 12, 1) - date(1899, 12, 30)).days  # 46000 days into the 1900 system


def loan(loan_terms_hash: str, **values: str) -> dict[str, str]:
    row = {
        "as_of_date": "2026-01-05", "lender_id": "acme", "loan_id": f"L-{loan_terms_hash[2:4]}",
        "loan_terms_hash": loan_terms_hash, "borrower_id": "B-1", "borrower_name": "Foundry, Inc.", "currency": "USDC",
        "original_principal": "1250000.00", "principal_outstanding": "1000000.00", "accrued_interest": "205.48",
        "daily_interest": "205.48", "interest_rate_bps": "750", "status": "current", "days_past_due": "0",
        "origination_date": "2025-12-01", "maturity_date": "2026-12-01", "collateral": "1001=1652922001234",
        "insurance_cover_ratio": "", "insurance_waiting_period_days": "",
    }
    row.update(values)
    return row


def csv_text(lines: list[list[str]]) -> str:
    return "\n".join(",".join(f'"{cell}"' if "," in cell else cell for cell in line) for line in lines) + "\n"


def tape_lines(rows: list[dict[str, str]]) -> list[list[str]]:
    return [list(LOAN_TAPE_COLUMNS), *[[row[column] for column in LOAN_TAPE_COLUMNS] for row in rows]]


def ingest(lake: Lake, name: str, content: str | bytes):
    lake.home.inbox.mkdir(parents=True, exist_ok=True)
    path = lake.home.inbox / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    [result] = take_in_inbox(lake)
    assert result.status == "routed", result.recognition
    [summary] = ingest_loan_tapes_day(result.partition, lake)
    return summary


def loans(lake: Lake) -> list[dict]:
    return pl.from_arrow(lake.read_table("loan_tapes", DAY)).sort("source_row").to_dicts()


def quarantine(lake: Lake) -> list[tuple]:
    files = sorted((lake.home.root / "lake" / "quarantine" / "loan_tapes").rglob("*.parquet"))
    if not files:
        files = sorted(lake.home.root.rglob("quarantine/loan_tapes/**/*.parquet"))
    frame = pl.concat([pl.read_parquet(file) for file in files])
    return sorted(frame.select("source_row", "field", "value", "reason").rows())


def test_a_csv_tape_under_a_title_block_with_a_totals_row_and_a_note_reads_its_loans_exactly(tmp_path):
    lake = Lake(tmp_path / "home")
    rows = [
        loan(HASH_1, original_principal="$1,250,000.00", principal_outstanding="USD 1,000,000.00",
             interest_rate_bps="7.5%", origination_date="1-Dec-2025", maturity_date=str(SERIAL_2025_12_01 + 365)),
        loan(HASH_2, principal_outstanding="400 000.50", accrued_interest="82.19", daily_interest="82.19",
             origination_date="December 1, 2025"),
    ]
    lines = [["Acme Capital - GPU loan tape"], ["As of 5 January 2026"], [], *tape_lines(rows),
             ["Total", "", "", "", "", "", "", "2,500,000.00", "1,400,000.50", "287.67"], [],
             ["Amounts in US dollars."]]
    summary = ingest(lake, "acme-2026-01-05.csv", csv_text(lines))
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (2, 2, 0)
    got = [(r["source_row"], r["original_principal"], r["principal_outstanding"], r["interest_rate_bps"],
            r["origination_date"], r["maturity_date"]) for r in loans(lake)]
    assert got == [
        (1, Decimal("1250000"), Decimal("1000000"), 750, date(2025, 12, 1), date(2026, 12, 1)),
        (2, Decimal("1250000"), Decimal("400000.5"), 750, date(2025, 12, 1), date(2026, 12, 1)),
    ]


def test_a_totals_row_that_is_not_the_sum_of_the_rows_refuses_the_tape_naming_the_row(tmp_path):
    lake = Lake(tmp_path / "home")
    lines = [["Acme Capital - GPU loan tape"], *tape_lines([loan(HASH_1), loan(HASH_2)]),
             ["Total", "", "", "", "", "", "", "2500000.00", "2100000.00"]]
    summary = ingest(lake, "acme-2026-01-05.csv", csv_text(lines))
    assert (summary.rows_in, summary.rows_accepted, summary.reasons) == (2, 0, {"totals_mismatch": 1})
    assert summary.messages == (
        "acme-2026-01-05.csv: the file, field principal_outstanding: totals_mismatch (value 'the tape's total 2100000.00 "
        "(file row 5) is not its rows' sum 2000000.00: a loan is missing from the tape or counted twice')",)


def workbook_bytes(build) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    build(workbook)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_tape_sheet(sheet, rows: list[dict[str, str]], title_rows: int = 2) -> None:
    """The tape under a merged title block; dates as General-format serials, amounts as accounting-format numbers,
    the rate and the insured share as percentages."""
    sheet.append(["Acme Capital - GPU loan tape"])
    sheet.append(["As of 5 January 2026"])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    sheet.append(list(LOAN_TAPE_COLUMNS))
    for row in rows:
        values = []
        for column in LOAN_TAPE_COLUMNS:
            text = row[column]
            if column in ("origination_date", "maturity_date"):
                values.append((date.fromisoformat(text) - date(1899, 12, 30)).days)
            elif column in ("original_principal", "principal_outstanding", "accrued_interest", "daily_interest"):
                values.append(float(text))
            elif column == "interest_rate_bps":
                values.append(int(text) / 10_000)
            elif column == "insurance_cover_ratio":
                values.append(float(text) if text else None)
            else:
                values.append(text or None)
        sheet.append(values)
        sheet.cell(sheet.max_row, LOAN_TAPE_COLUMNS.index("interest_rate_bps") + 1).number_format = "0.00%"
        sheet.cell(sheet.max_row, LOAN_TAPE_COLUMNS.index("insurance_cover_ratio") + 1).number_format = "0%"
        for column in ("original_principal", "principal_outstanding"):
            sheet.cell(sheet.max_row, LOAN_TAPE_COLUMNS.index(column) + 1).number_format = "#,##0.00_);(#,##0.00)"


def test_a_workbook_tape_is_found_on_its_sheet_below_its_title_with_serial_dates_percentages_and_merged_names(
        tmp_path):
    def build(workbook):
        summary = workbook.active
        summary.title = "Summary"
        summary.append(["Portfolio summary"])
        summary.append(["Loans", 2])
        tape = workbook.create_sheet("Loans 2026-01-05")
        write_tape_sheet(tape, [loan(HASH_1, insurance_cover_ratio="0.8", insurance_waiting_period_days="30"),
                                loan(HASH_2, interest_rate_bps="1250", borrower_name="")])
        tape.merge_cells("F4:F5")  # borrower_name over both loans: the analyst grouped them by borrower
        tape.append(["Total", None, None, None, None, None, None, 2_500_000, 2_000_000])

    lake = Lake(tmp_path / "home")
    summary = ingest(lake, "acme-2026-01-05.xlsx", workbook_bytes(build))
    assert (summary.rows_in, summary.rows_accepted, summary.rows_quarantined) == (2, 2, 0)
    got = [(r["borrower_name"], r["interest_rate_bps"], r["origination_date"], r["insurance_cover_ratio"],
            r["principal_outstanding"]) for r in loans(lake)]
    assert got == [
        ("Foundry, Inc.", 750, date(2025, 12, 1), Decimal("0.8"), Decimal("1000000")),
        ("Foundry, Inc.", 1250, date(2025, 12, 1), None, Decimal("1000000")),
    ]


def test_an_amount_merged_over_two_loans_is_refused_for_both_naming_the_cells(tmp_path):
    def build(workbook):
        write_tape_sheet(workbook.active, [loan(HASH_1), loan(HASH_2)])
        workbook.active.title = "Tape"
        workbook.active.merge_cells("I4:I5")  # one principal for two loans

    lake = Lake(tmp_path / "home")
    summary = ingest(lake, "acme-2026-01-05.xlsx", workbook_bytes(build))
    assert (summary.rows_in, summary.rows_accepted, summary.reasons) == (2, 0, {"merged_cell": 2})
    assert summary.messages[0] == (
        "acme-2026-01-05.xlsx: row 1, field principal_outstanding: merged_cell (value 'I4:I5') "
        "[sheet 'Tape' cell I4, column 'principal_outstanding']")


def test_two_sheets_that_each_hold_a_tape_are_refused_rather_than_one_picked(tmp_path):
    def build(workbook):
        write_tape_sheet(workbook.active, [loan(HASH_1)])
        workbook.active.title = "January"
        write_tape_sheet(workbook.create_sheet("December"), [loan(HASH_2, as_of_date="2025-12-31")])

    lake = Lake(tmp_path / "home")
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "acme-2026-01-05.xlsx").write_bytes(workbook_bytes(build))
    [result] = take_in_inbox(lake)
    assert result.recognition.problem == "several_tapes"
    assert "'January', 'December'" in result.recognition.detail and "sheet = " in result.recognition.detail


def test_a_1904_workbooks_serial_dates_count_from_1904(tmp_path):
    from openpyxl.utils.datetime import MAC_EPOCH

    def build(workbook):
        workbook.epoch = MAC_EPOCH
        sheet = workbook.active
        sheet.append(list(LOAN_TAPE_COLUMNS))
        row = loan(HASH_1)
        sheet.append([(date(2026, 1, 5) - date(1904, 1, 1)).days if column == "as_of_date" else
                      (date(2025, 12, 1) - date(1904, 1, 1)).days if column == "origination_date" else
                      row[column] or None for column in LOAN_TAPE_COLUMNS])

    lake = Lake(tmp_path / "home")
    summary = ingest(lake, "acme-2026-01-05.xlsx", workbook_bytes(build))
    assert (summary.rows_in, summary.rows_accepted) == (1, 1)
    assert [(r["as_of_date"], r["origination_date"]) for r in loans(lake)] == [(DAY, date(2025, 12, 1))]


def european_servicer_layout(lender_id: str, name: str) -> str:
    """counterparties.toml's settings of a lender whose servicer writes day-first dates, `1.250.000,00` amounts,
    rates as fractions and German column names (EURO_HEADER)."""
    return f"""
[lenders.{lender_id}]
name = "{name}"
day_first = true
decimal_comma = true
rate_unit = "fraction"

[lenders.{lender_id}.columns]
as_of_date = "Stichtag"
loan_id = "Darlehen"
loan_terms_hash = "Konditionen-Hash"
borrower_id = "Kreditnehmer-ID"
currency = "Waehrung"
original_principal = "Ursprungsbetrag"
principal_outstanding = "Restschuld"
accrued_interest = "Aufgelaufene Zinsen"
daily_interest = "Tageszins"
interest_rate_bps = "Zinssatz"
status = "Status"
days_past_due = "Verzug (Tage)"
origination_date = "Auszahlung"
maturity_date = "Faelligkeit"
collateral = "Sicherheiten"
"""


@pytest.fixture
def european_lender(tmp_path, monkeypatch):
    path = tmp_path / "counterparties.toml"
    path.write_text(COUNTERPARTIES_FILE.read_text() + european_servicer_layout("eurolend", "A European servicer"))
    monkeypatch.setenv("BACKED_COUNTERPARTIES", str(path))
    return path


EURO_HEADER = ["Stichtag", "Darlehen", "Konditionen-Hash", "Kreditnehmer-ID", "Waehrung", "Ursprungsbetrag",
               "Restschuld", "Aufgelaufene Zinsen", "Tageszins", "Zinssatz", "Status", "Verzug (Tage)", "Auszahlung",
               "Faelligkeit", "Sicherheiten"]


def euro_row(loan_terms_hash: str, **values: str) -> list[str]:
    row = {"Stichtag": "05/01/2026", "Darlehen": "E-1", "Konditionen-Hash": loan_terms_hash, "Kreditnehmer-ID": "B-1",
           "Waehrung": "USDC", "Ursprungsbetrag": "1.250.000,00", "Restschuld": "1.000.000,50",
           "Aufgelaufene Zinsen": "205,48", "Tageszins": "205,48", "Zinssatz": "0.075", "Status": "current",
           "Verzug (Tage)": "0", "Auszahlung": "01/12/2025", "Faelligkeit": "01/12/2026",
           "Sicherheiten": "1001=1652922001234"}
    row.update(values)
    return [row[name] for name in EURO_HEADER]


def test_a_lenders_day_first_dates_decimal_commas_and_fractional_rates_read_as_its_settings_say(tmp_path,
                                                                                               european_lender):
    lake = Lake(tmp_path / "home")
    text = ";".join([])  # the servicer's CSV is comma-separated; its amounts are quoted
    text = csv_text([EURO_HEADER, euro_row(HASH_1), euro_row(HASH_2, Darlehen="E-2", Zinssatz="0.08125")])
    summary = ingest(lake, "eurolend-2026-01-05.csv", text)
    assert (summary.rows_in, summary.rows_accepted, summary.reasons) == (2, 1, {"rate_not_whole_bps": 1})
    [row] = loans(lake)
    assert (row["lender_id"], row["as_of_date"], row["origination_date"], row["original_principal"],
            row["principal_outstanding"], row["interest_rate_bps"]) == (
        "eurolend", DAY, date(2025, 12, 1), Decimal("1250000"), Decimal("1000000.5"), 750)
    assert summary.messages == (
        "eurolend-2026-01-05.csv: row 2, field interest_rate_bps: rate_not_whole_bps (value '0.08125') "
        "[file row 3, column 'Zinssatz']",)


def test_a_date_whose_day_order_the_lender_has_not_given_is_refused_as_ambiguous_not_guessed(tmp_path):
    lake = Lake(tmp_path / "home")
    rows = [loan(HASH_1, origination_date="01/12/2025"), loan(HASH_2, origination_date="13/12/2025")]
    summary = ingest(lake, "acme-2026-01-05.csv", csv_text(tape_lines(rows)))
    assert (summary.rows_in, summary.rows_accepted, summary.reasons) == (2, 0, {"ambiguous_date": 2})


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("interest_rate_bps", "7.505%", "rate_not_whole_bps"),  # finer than a basis point
    ("principal_outstanding", "1,5", "invalid_decimal"),  # a decimal comma from a lender not set up for one
    ("principal_outstanding", "1,00,000.00", "invalid_decimal"),  # not grouped in thousands
    ("principal_outstanding", "(1,000.00)", "negative_amount"),  # accounting negative
    ("principal_outstanding", "€1,000.00", "invalid_decimal"),  # not dollars
    ("insurance_cover_ratio", "120%", "invalid_cover_ratio"),
])
def test_a_value_that_does_not_read_exactly_is_quarantined_with_the_lenders_own_text(tmp_path, field, value, reason):
    lake = Lake(tmp_path / "home")
    extra = {"insurance_waiting_period_days": "30"} if field == "insurance_cover_ratio" else {}
    summary = ingest(lake, "acme-2026-01-05.csv",
                     csv_text(tape_lines([loan(HASH_1), loan(HASH_2, **{field: value}, **extra)])))
    assert (summary.rows_in, summary.rows_accepted, summary.reasons) == (2, 1, {reason: 1})
    assert (2, field, value, reason) in quarantine(lake)
