"""A corpus of bad files for every format, generated from good ones: empty, truncated, wrong encoding (UTF-8 BOM,
Latin-1, UTF-16), wrong XML namespace, malicious XML (external entities, entity expansion), negative and absurd
amounts, bad CUSIPs, unknown GPUs, duplicated rows, dates in the future.

Each case is dropped in a fresh inbox and taken in like any file. A file that cannot be routed is archived as
rejected with its reason on row 0 (the file); a routed file is ingested and its bad rows quarantined with a message
naming the file, the row and the field, while its good rows go through. Rows in = rows accepted + rows
quarantined, for every file."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from assets.custodian.statements import ingest_custodian_day
from assets.inbox.register import REJECTED, ROUTED
from assets.inbox.intake import take_in_inbox
from foundation.lake import Lake
from assets.loan_tapes.tape import ingest_loan_tapes_day
from assets.telemetry.scrapes import ingest_telemetry_day
from custodian_day import STATEMENT_ROWS
from sandbox.file_drops import (
    GpuFeed,
    LoanTapeRow,
    write_cash_statement,
    write_custodian_statement,
    write_dcgm_json_lines,
    write_dcgm_scrapes,
    write_holdings_statement,
    write_lender_a_workbook,
    write_loan_tape,
)

# every test here feeds a hostile or malformed input: counted in the reliability summary
pytestmark = pytest.mark.bad_input

DAY = date(2026, 1, 5)
TODAY = datetime.now(timezone.utc).date()
INGEST = {"loan_tapes": ingest_loan_tapes_day, "custodian": ingest_custodian_day, "telemetry": ingest_telemetry_day}
GPUS = [GpuFeed(f"GPU-0a1b2c3d-0000-4000-8000-00000000000{n}", f"165292200000{n}", n, "node-01", "NVIDIA H100 80GB HBM3",
                70, 60, 700_000) for n in (1, 2)]


def loan(number: int, **changes) -> LoanTapeRow:
    row = dict(
        as_of_date=DAY, lender_id="acme", loan_id=f"L-{number}", loan_terms_hash="0x" + f"{number:02d}" * 32,
        borrower_id="B-1", borrower_name="Foundry, Inc.", currency="USDC", original_principal=Decimal("500000"),
        principal_outstanding=Decimal("400000"), accrued_interest=Decimal("82.191780"),
        daily_interest=Decimal("82.19178"), interest_rate_bps=750, status="current", days_past_due=0,
        origination_date=date(2025, 12, 1), maturity_date=date(2026, 12, 1), collateral=f"{1000 + number}=165292200000{number}",
        insurance_cover_ratio=Decimal("0.70"), insurance_waiting_period_days=21,
    )
    row.update(changes)
    return LoanTapeRow(**row)


HOLDINGS = STATEMENT_ROWS


def written(write: Callable[[Path], None]) -> Callable[[Path], bytes]:
    """The bytes a sandbox writer produces (in a scratch folder)."""
    def content(scratch: Path) -> bytes:
        path = scratch / "good"
        write(path)
        return path.read_bytes()
    return content


def edited(base: Callable[[Path], bytes], edit: Callable[[bytes], bytes]) -> Callable[[Path], bytes]:
    return lambda scratch: edit(base(scratch))


def replaced(base, old: str | bytes, new: str | bytes, count: int = 1):
    old = old.encode() if isinstance(old, str) else old
    new = new.encode() if isinstance(new, str) else new

    def edit(content: bytes) -> bytes:
        assert old in content, old
        return content.replace(old, new, count)
    return edited(base, edit)


def appended(base, extra: str | bytes):
    extra = extra.encode() if isinstance(extra, str) else extra
    return edited(base, lambda content: content + extra)


def cell_set(workbook: bytes, cell: str, value) -> bytes:
    """The workbook with one cell of its tape sheet changed, as a person editing it in a spreadsheet would."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    book["Loan Tape"][cell] = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def cells_merged(workbook: bytes, cells: str) -> bytes:
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    book["Loan Tape"].merge_cells(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def tape_sheet_copied(workbook: bytes) -> bytes:
    """A second sheet holding the tape (last month's, kept in the same workbook)."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    book.copy_worksheet(book["Loan Tape"]).title = "Loan Tape (prior)"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


TAPE_CSV = written(lambda p: write_loan_tape(p, [loan(1), loan(2), loan(3)]))
TAPE_XLSX = written(lambda p: write_lender_a_workbook(p, DAY, [loan(1, lender_id="lender-a"), loan(2, lender_id="lender-a")]))
STATEMENT_CSV = written(lambda p: write_custodian_statement(p, DAY, "custodian-a", "ACC-1", HOLDINGS))
SEMT = written(lambda p: write_holdings_statement(p, DAY, "ACC-1", HOLDINGS))
CAMT = written(lambda p: write_cash_statement(p, DAY, "ACC-1", HOLDINGS))
SEMT_IN_PDU = written(lambda p: write_holdings_statement(p, DAY, "ACC-1", HOLDINGS, envelope="data_pdu"))
SEMT_03_IN_PDU = written(lambda p: write_holdings_statement(p, DAY, "ACC-1", HOLDINGS, version="semt.002.001.03",
                                                            envelope="data_pdu"))
CAMT_13 = written(lambda p: write_cash_statement(p, DAY, "ACC-1", HOLDINGS, version="camt.053.001.13",
                                                 envelope="app_hdr"))
PROM = written(lambda p: write_dcgm_scrapes(p, DAY, GPUS, 3600, seed=9))
JSONL = written(lambda p: write_dcgm_json_lines(p, DAY, GPUS, 3600, seed=9))
T0 = 1767571200000  # 2026-01-05T00:00:00Z
UTIL_A = f'DCGM_FI_DEV_GPU_UTIL{{gpu="1",UUID="{GPUS[0].uuid}",serial="{GPUS[0].serial}"}}'
# One GPU's utilisation as a stock exporter writes it: no serial, no timestamp.
RAW_UTIL = (f'DCGM_FI_DEV_GPU_UTIL{{gpu="0",UUID="{GPUS[1].uuid}",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",'
            'Hostname="node-01"}')
INVENTORY = f"index, name, serial, uuid\n0, NVIDIA H100 80GB HBM3, {GPUS[0].serial}, {GPUS[0].uuid}\n"
API_ANSWER = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": GPUS[1].uuid, "Hostname": "node-01"},
     "values": [[1767614400, "55"], [1767614460, "56"]]},
    {"metric": {"__name__": "DCGM_FI_DEV_GPU_TEMP", "UUID": GPUS[1].uuid, "Hostname": "node-01"},
     "values": [[1767614400, "61"], [1767614460, "62"]]}]}})
RAW_SCRAPE = f"# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n{RAW_UTIL} 55\n{RAW_UTIL.replace('GPU_UTIL', 'GPU_TEMP')} 61\n"


@dataclass(frozen=True)
class Case:
    file_name: str
    content: Callable[[Path], bytes]
    rejected: str | None = None  # the reason the whole file is refused at intake
    reasons: dict[str, int] = field(default_factory=dict)  # the ingested file's quarantine reasons
    accepted: int | None = None
    message: str = ""  # a message the file must produce (a regular expression)


CASES = {
    # --- loan tape, CSV
    "tape-csv-empty": Case("tape.csv", lambda _: b"", rejected="empty_file"),
    "tape-csv-truncated-mid-row": Case("tape.csv", edited(TAPE_CSV, lambda c: c[: c.rindex(b",0x03") + 12]),
                                       reasons={"wrong_field_count": 1}, accepted=2,
                                       message=r"tape\.csv: row 3: wrong_field_count \(value '4 fields, the header has 19'\)"),
    "tape-csv-truncated-in-quotes": Case("tape.csv", edited(TAPE_CSV, lambda c: c[: c.rindex(b'"Foundry,') + 5]),
                                         reasons={"truncated_row": 1, "wrong_field_count": 1}, accepted=2,
                                         message=r"tape\.csv: row 3: truncated_row"),
    "tape-csv-utf8-bom": Case("tape.csv", edited(TAPE_CSV, lambda c: b"\xef\xbb\xbf" + c), accepted=3),
    "tape-csv-latin1": Case("tape.csv", replaced(TAPE_CSV, '"Foundry, Inc."', "Soci\xe9t\xe9 G\xe9n\xe9rale".encode("latin-1")),
                            reasons={"invalid_encoding": 1}, accepted=2,
                            # a borrower's name is personal data: the message names the field, never the value
                            message=r"tape\.csv: row 1, field borrower_name: invalid_encoding \(value masked: personal data\)"),
    "tape-csv-utf16": Case("tape.csv", edited(TAPE_CSV, lambda c: c.decode().encode("utf-16")),
                           rejected="unsupported_encoding"),
    "tape-csv-negative-amount": Case("tape.csv", replaced(TAPE_CSV, ",400000.00,", ",-400000,"),
                                     reasons={"negative_amount": 1}, accepted=2,
                                     message=r"row 1, field principal_outstanding: negative_amount \(value '-400000'\)"),
    "tape-csv-absurd-amount": Case("tape.csv", replaced(TAPE_CSV, ",400000.00,", ",4000000000000000,"),
                                   reasons={"implausible_amount": 1}, accepted=2,
                                   message=r"row 1, field principal_outstanding: implausible_amount"),
    "tape-csv-absurd-rate": Case("tape.csv", replaced(TAPE_CSV, ",750,", ",75000,"),
                                 reasons={"implausible_value": 1}, accepted=2,
                                 message=r"row 1, field interest_rate_bps: implausible_value \(value '75000'\)"),
    "tape-csv-repeated-row": Case("tape.csv", edited(TAPE_CSV, lambda c: c + c.splitlines(keepends=True)[1]),
                                  reasons={"repeated_row": 1}, accepted=3,
                                  message=r"row 4, field loan_terms_hash: repeated_row"),
    "tape-csv-conflicting-rows": Case("tape.csv", edited(TAPE_CSV, lambda c: c + c.splitlines(keepends=True)[1]
                                                         .replace(b",400000.00,", b",399000.00,")),
                                      reasons={"duplicate_loan": 2}, accepted=2,
                                      message=r"row 4, field loan_terms_hash: duplicate_loan"),
    "tape-csv-unknown-gpu": Case("tape.csv", replaced(TAPE_CSV, "1002=1652922000002", "1002=GPU-12"),
                                 reasons={"invalid_gpu_serial": 1}, accepted=2,
                                 message=r"row 2, field collateral: invalid_gpu_serial \(value '1002=GPU-12'\)"),
    "tape-csv-duplicate-column": Case("tape.csv", replaced(TAPE_CSV, "accrued_interest,", "principal_outstanding,"),
                                      rejected="duplicate_column"),
    "tape-csv-future-file": Case("tape.csv", edited(TAPE_CSV, lambda c: c.replace(
        DAY.isoformat().encode() + b",acme", (TODAY + timedelta(days=3)).isoformat().encode() + b",acme")),
        rejected="future_date"),
    "tape-csv-origination-after-as-of": Case("tape.csv", replaced(TAPE_CSV, ",2025-12-01,", ",2026-02-01,"),
                                             reasons={"origination_after_as_of": 1}, accepted=2,
                                             message=r"row 1, field origination_date: origination_after_as_of"),
    # --- loan tape, a lender's XLSX workbook
    "tape-xlsx-truncated": Case("tape.xlsx", edited(TAPE_XLSX, lambda c: c[: len(c) // 2]), rejected="unreadable_file"),
    "tape-xlsx-negative-amount": Case("tape.xlsx", written(lambda p: write_lender_a_workbook(p, DAY, [
        loan(1, lender_id="lender-a", accrued_interest=Decimal("-82.19178")), loan(2, lender_id="lender-a")])),
        reasons={"negative_amount": 1}, accepted=1, message=r"row 1, field accrued_interest: negative_amount"),
    "tape-xlsx-absurd-amount": Case("tape.xlsx", written(lambda p: write_lender_a_workbook(p, DAY, [
        loan(1, lender_id="lender-a", original_principal=Decimal("9" * 15)), loan(2, lender_id="lender-a")])),
        reasons={"implausible_amount": 1}, accepted=1, message=r"row 1, field original_principal: implausible_amount"),
    "tape-xlsx-duplicated-row": Case("tape.xlsx", written(lambda p: write_lender_a_workbook(p, DAY, [
        loan(1, lender_id="lender-a"), loan(1, lender_id="lender-a")])),
        reasons={"repeated_row": 1}, accepted=1, message=r"row 2, field loan_terms_hash: repeated_row"),
    "tape-xlsx-unknown-status": Case("tape.xlsx", edited(TAPE_XLSX, lambda c: cell_set(c, "L6", "Charged Off")),
                                     reasons={"unknown_status": 1}, accepted=1,
                                     message=r"row 2, field status: unknown_status \(value 'Charged Off'\) "
                                             r"\[sheet 'Loan Tape' cell L6, column 'Loan Status'\]"),
    # --- loan tapes as lenders send them (docs/loan-tape-schema.md, As lenders send them)
    "tape-xlsx-totals-row-off": Case("tape.xlsx", edited(TAPE_XLSX, lambda c: cell_set(c, "H7", 800001)),
                                     reasons={"totals_mismatch": 1}, accepted=0,
                                     message=r"the tape's total 800001 \(sheet 'Loan Tape' row 7\) is not its rows' sum "
                                             r"800000\.00"),
    "tape-xlsx-amount-merged-over-two-loans": Case("tape.xlsx", edited(TAPE_XLSX, lambda c: cells_merged(c, "H5:H6")),
                                                   reasons={"merged_cell": 2}, accepted=0,
                                                   message=r"row 1, field principal_outstanding: merged_cell "
                                                           r"\(value 'H5:H6'\)"),
    "tape-xlsx-two-sheets-with-a-tape": Case("tape.xlsx", edited(TAPE_XLSX, tape_sheet_copied), rejected="several_tapes"),
    "tape-csv-day-first-date-unannounced": Case("tape.csv", replaced(TAPE_CSV, ",2025-12-01,", ",01/12/2025,"),
                                                reasons={"ambiguous_date": 1}, accepted=2,
                                                message=r"row 1, field origination_date: ambiguous_date "
                                                        r"\(value '01/12/2025'\) \[file row 2"),
    "tape-csv-rate-finer-than-a-bp": Case("tape.csv", replaced(TAPE_CSV, ",750,", ",7.505%,"),
                                          reasons={"rate_not_whole_bps": 1}, accepted=2),
    "tape-csv-amount-not-grouped-in-thousands": Case("tape.csv", replaced(TAPE_CSV, ",400000.00,", ',"4,00,000.00",'),
                                                     reasons={"invalid_decimal": 1}, accepted=2,
                                                     message=r"value '4,00,000\.00'"),
    # --- custodian CSV
    "statement-csv-bad-cusip": Case("statement.csv", replaced(STATEMENT_CSV, "912797LB1", "912797LB2"),
                                    reasons={"cusip_check_digit": 1}, accepted=5,
                                    message=r"row 2, field cusip: cusip_check_digit \(value '912797LB2'\)"),
    "statement-csv-duplicated-holding": Case("statement.csv", replaced(STATEMENT_CSV, "912797MA2,US T-Bill 2026-04-02,2026",
                                                                       "912797LB1,US T-Bill 2026-04-02,2026"),
                                             reasons={"duplicate_holding": 2}, accepted=4,
                                             message=r"row 3, field account_id: duplicate_holding"),
    "statement-csv-latin1": Case("statement.csv", replaced(STATEMENT_CSV, "US T-Bill 2026-03-26", "Bon du Tr\xe9sor".encode("latin-1")),
                                 reasons={"invalid_encoding": 1}, accepted=5,
                                 message=r"row 2, field security_description: invalid_encoding"),
    "statement-csv-absurd-amount": Case("statement.csv", replaced(STATEMENT_CSV, "201610.00", "2016100000000000.00"),
                                        reasons={"implausible_amount": 1}, accepted=5,
                                        message=r"row 6, field amount: implausible_amount"),
    # --- semt.002
    "semt-unsupported-version": Case("holdings.xml", replaced(SEMT, "semt.002.001.11", "semt.002.001.99"),
                                     rejected="unsupported_message_version"),
    "semt-wrong-namespace": Case("holdings.xml", replaced(SEMT, "urn:iso:std:iso:20022:tech:xsd:semt.002.001.11",
                                                          "urn:example:custodian:holdings"), rejected="unknown_xml_namespace"),
    "semt-page-sent-twice-in-one-envelope": Case("holdings.xml", lambda scratch: SEMT_IN_PDU(scratch).replace(
        b"</Saa:Body>", SEMT(scratch).split(b"\n", 1)[1] + b"</Saa:Body>"), rejected="repeated_message"),
    "semt-03-cusip-check-digit-in-data-pdu": Case("holdings.xml", replaced(SEMT_03_IN_PDU, "912797LB1", "912797LB2"),
                                                  reasons={"cusip_check_digit": 1}, accepted=1,
                                                  message=r"row 1, field cusip: cusip_check_digit"),
    "camt-13-entry-pending": Case("cash.xml", replaced(CAMT_13, "<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>"),
                                  reasons={"entry_not_booked": 1}, accepted=3),
    "xml-other-iso-message": Case("holdings.xml", replaced(SEMT, "semt.002.001.11", "pacs.008.001.08"),
                                  rejected="unsupported_message"),
    "semt-external-entity": Case("holdings.xml", replaced(
        SEMT, "<?xml version='1.0' encoding='UTF-8'?>",
        "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE Document [<!ENTITY secret SYSTEM \"file:///etc/passwd\">]>"),
        rejected="unsafe_xml"),
    "semt-billion-laughs": Case("holdings.xml", replaced(
        SEMT, "<?xml version='1.0' encoding='UTF-8'?>",
        "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE Document [<!ENTITY lol \"lol\">"
        + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "&lol;" * 10}">' for i in range(9)) + "]>"),
        rejected="unsafe_xml"),
    "semt-truncated": Case("holdings.xml", edited(SEMT, lambda c: c[: len(c) // 2]), rejected="unreadable_file"),
    "semt-latin1-undeclared": Case("holdings.xml", replaced(SEMT, "US T-Bill 2026-03-26", "Bon du Tr\xe9sor".encode("latin-1")),
                                   rejected="unreadable_file"),
    "semt-latin1-declared": Case("holdings.xml", edited(SEMT, lambda c: c.decode().replace(
        "encoding='UTF-8'", "encoding='ISO-8859-1'").replace("US T-Bill 2026-03-26", "Bon du Trésor").encode("latin-1")),
        accepted=2),
    "semt-utf8-bom": Case("holdings.xml", edited(SEMT, lambda c: b"\xef\xbb\xbf" + c), accepted=2),
    "semt-bad-cusip": Case("holdings.xml", replaced(SEMT, "912797LB1", "912797LB7"), reasons={"cusip_check_digit": 1},
                           accepted=1, message=r"holdings\.xml: row 1, field cusip: cusip_check_digit \(value '912797LB7'\)"),
    "semt-negative-holding": Case("holdings.xml", replaced(SEMT, "<Sgn>true</Sgn>", "<Sgn>false</Sgn>"),
                                  reasons={"negative_amount": 1}, accepted=1,
                                  message=r"row 1, field market_value: negative_amount \(value '-989000.00'\)"),
    "semt-duplicated-holding": Case("holdings.xml", replaced(SEMT, "912797MA2", "912797LB1"),
                                    reasons={"duplicate_holding": 2}, accepted=0),
    "semt-future": Case("holdings.xml", replaced(SEMT, f"{DAY.isoformat()}T23:59:59Z", f"{TODAY + timedelta(days=5)}T23:59:59Z"),
                        rejected="future_date"),
    # --- camt.053
    "camt-pending-entry": Case("cash.xml", replaced(CAMT, "<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>"),
                               reasons={"entry_not_booked": 1}, accepted=3,
                               message=r"cash\.xml: row 3, field status: entry_not_booked \(value 'PDNG'\)"),
    "camt-unknown-bank-transaction-code": Case("cash.xml", replaced(CAMT, "<Cd>RCDT</Cd>", "<Cd>ICDT</Cd>"),
                                               reasons={"unknown_transaction_type": 1}, accepted=3,
                                               message=r"row 3, field transaction_type: unknown_transaction_type "
                                                       r"\(value 'PMNT/ICDT/OTHR/CRDT'\)"),
    "camt-overdrawn-closing-balance": Case("cash.xml", edited(CAMT, lambda c: re.sub(
        rb"(<Cd>CLBD</Cd>\s*</CdOrPrtry>\s*</Tp>\s*<Amt Ccy=\"USD\">[^<]*</Amt>\s*<CdtDbtInd>)CRDT", rb"\1DBIT", c)),
        reasons={"negative_amount": 1}, accepted=3, message=r"row 2, field amount: negative_amount \(value '-201610.00'\)"),
    "camt-bad-tx-hash": Case("cash.xml", replaced(CAMT, "0x" + "ab" * 32, "0x1234"), reasons={"invalid_tx_hash": 1},
                             accepted=3, message=r"row 3, field reference: invalid_tx_hash \(value '0x1234'\)"),
    # --- DCGM, Prometheus text
    "prom-empty": Case("dcgm.prom", lambda _: b"", rejected="empty_file"),
    "prom-truncated": Case("dcgm.prom", edited(PROM, lambda c: c[: c.rindex(b"UUID=")]), reasons={"unparseable_line": 1},
                           accepted=191, message=r"dcgm\.prom: row 200, field line: unparseable_line"),
    "prom-utf8-bom": Case("dcgm.prom", edited(PROM, lambda c: b"\xef\xbb\xbf" + c), accepted=192),
    "prom-latin1-label": Case("dcgm.prom", appended(PROM, UTIL_A.replace("gpu=", 'Hostname="n\xe6ud",gpu=').encode("latin-1")
                                                    + f" 50 {T0 + 60_000}\n".encode()),
                              reasons={"invalid_encoding": 1}, accepted=192, message=r"row 201, field line: invalid_encoding"),
    "prom-unknown-gpu": Case("dcgm.prom", appended(PROM, f'DCGM_FI_DEV_GPU_UTIL{{UUID="gpu-7"}} 50 {T0}\n'
                                                         f'DCGM_FI_DEV_GPU_UTIL{{gpu="7"}} 50 {T0}\n'),
                             reasons={"unknown_gpu": 1, "missing_label": 1}, accepted=192,
                             message=r"row 201, field UUID: unknown_gpu \(value 'gpu-7'\)"),
    "prom-absurd-values": Case("dcgm.prom", appended(PROM, f"{UTIL_A} 250 {T0 + 60_000}\n"
                                                           f"{UTIL_A.replace('GPU_UTIL', 'POWER_USAGE')} -5 {T0 + 60_000}\n"),
                               reasons={"implausible_value": 2}, accepted=192,
                               message=r"row 201, field value: implausible_value \(value '250'\)"),
    "prom-duplicated-sample": Case("dcgm.prom", appended(PROM, f"{UTIL_A} 71 {T0}\n"), reasons={"duplicate_sample": 1},
                                   accepted=192, message=r"row 201, field line: duplicate_sample"),
    "prom-sample-of-the-next-day": Case("dcgm.prom", appended(PROM, f"{UTIL_A} 71 {T0 + 86_400_000}\n"),
                                        reasons={"outside_day": 1}, accepted=192,
                                        message=r"row 201, field timestamp: outside_day"),
    "prom-future-file": Case("dcgm.prom", lambda _: (
        f"{UTIL_A} 50 {int(datetime.combine(TODAY + timedelta(days=2), datetime.min.time(), timezone.utc).timestamp()) * 1000}\n"
    ).encode(), rejected="future_date"),
    "prom-not-a-number": Case("dcgm.prom", appended(PROM, f"{UTIL_A} high {T0 + 60_000}\n"),
                              reasons={"invalid_value": 1}, accepted=192,
                              message=r"row 201, field value: invalid_value \(value 'high'\)"),
    # --- DCGM, a raw scrape of the exporter's /metrics (no sample timestamps, no serial label)
    "raw-scrape-without-a-time": Case("metrics.prom", lambda _: RAW_SCRAPE.encode(), rejected="no_scrape_time",
                                      message=r"--scraped-at"),
    "raw-scrape-with-a-stamped-sample": Case("dcgm-20260105T120000Z.prom", lambda _: (
        RAW_SCRAPE + f"{RAW_UTIL} 40 {T0 + 86_400_000}\n").encode(), reasons={"outside_day": 1}, accepted=2,
        message=r"row 4, field timestamp: outside_day"),
    "raw-scrape-of-an-impossible-time": Case("dcgm-20260105T250000Z.prom", lambda _: RAW_SCRAPE.encode(),
                                             rejected="no_scrape_time"),
    "raw-scrape-mig-instance-repeated": Case("dcgm-20260105T120000Z.prom", lambda _: (
        RAW_SCRAPE + f'{RAW_UTIL[:-1]},GPU_I_PROFILE="3g.40gb",GPU_I_ID="1"}} 30\n'
        + f'{RAW_UTIL[:-1]},GPU_I_PROFILE="3g.40gb",GPU_I_ID="1"}} 31\n').encode(),
        reasons={"duplicate_sample": 1}, accepted=3, message=r"row 5, field line: duplicate_sample"),
    # --- a Prometheus HTTP API answer (query_range: a matrix)
    "api-error-answer": Case("history.json", lambda _: b'{"status":"error","errorType":"bad_data","error":"1:1: parse '
                                                       b'error: unexpected end of input"}', rejected="not_a_query_answer",
                             message=r"bad_data: 1:1: parse error"),
    "api-truncated": Case("history.json", lambda _: API_ANSWER[:-40].encode(), rejected="not_a_query_answer"),
    "api-scalar-result": Case("history.json", lambda _: b'{"status":"success","data":{"resultType":"scalar",'
                                                        b'"result":[1767614400,"1"]}}', rejected="not_a_query_answer"),
    "api-sample-of-the-next-day-and-no-name": Case("history.json", lambda _: API_ANSWER.replace(
        '[1767614460, "56"]', '[1767700860, "56"]').replace('"__name__": "DCGM_FI_DEV_GPU_TEMP", ', '').encode(),
        reasons={"outside_day": 1, "unparseable_line": 2}, accepted=1, message=r"row 2, field timestamp: outside_day"),
    # --- an nvidia-smi GPU inventory
    "inventory-undated": Case("gpu-inventory.csv", lambda _: INVENTORY.encode(), rejected="no_as_of_date",
                              message=r"gpu-inventory-node-03-2026-01-05\.csv"),
    "inventory-bad-rows": Case("gpu-inventory-2026-01-05.csv", lambda _: (
        INVENTORY + "1, NVIDIA GeForce RTX 4090, [N/A], GPU-7\n" + INVENTORY.splitlines()[1] + "\n").encode(),
        reasons={"missing_serial": 1, "unknown_gpu": 1, "duplicate_gpu": 1}, accepted=1,
        message=r"row 2, field gpu_serial: missing_serial \(value '\[N/A\]'\)"),
    "inventory-latin1": Case("gpu-inventory-2026-01-05.csv", lambda _: INVENTORY.replace(
        "NVIDIA H100", "NVIDIA H100 r\xe9v").encode("latin-1"), reasons={"invalid_encoding": 1}, accepted=0,
        message=r"row 1, field model_name: invalid_encoding"),
    # --- DCGM, JSON lines
    "jsonl-truncated": Case("dcgm.jsonl", edited(JSONL, lambda c: c[:-20]), reasons={"unparseable_line": 1},
                            accepted=191, message=r"dcgm\.jsonl: row 192, field line: unparseable_line"),
    "jsonl-unknown-gpu": Case("dcgm.jsonl", appended(JSONL, f'{{"metric":"DCGM_FI_DEV_GPU_UTIL","labels":{{"UUID":"7"}},'
                                                            f'"value":5,"timestamp_ms":{T0}}}\n'),
                              reasons={"unknown_gpu": 1}, accepted=192, message=r"row 193, field UUID: unknown_gpu"),
    "jsonl-nan-and-infinity": Case("dcgm.jsonl", appended(JSONL, "".join(
        f'{{"metric":"DCGM_FI_DEV_GPU_TEMP","labels":{{"UUID":"{GPUS[0].uuid}"}},"value":"{v}","timestamp_ms":{T0 + i}}}\n'
        for i, v in enumerate(["NaN", "+Inf"], start=1))), accepted=194),
}


@pytest.mark.parametrize("case_id", CASES)
def test_bad_input(case_id, tmp_path):
    case = CASES[case_id]
    lake = Lake(tmp_path / "home")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    content = case.content(scratch)
    (lake.home.inbox / case.file_name).parent.mkdir(parents=True, exist_ok=True)
    (lake.home.inbox / case.file_name).write_bytes(content)
    (result,) = take_in_inbox(lake)
    if case.rejected is not None:
        assert (result.status, result.recognition.problem) == (REJECTED, case.rejected), result.recognition.detail
        received_day = datetime.now(timezone.utc).date()
        (entry,) = pq.read_table(lake.rejected_file_quarantine_path(received_day, case.file_name, result.sha256)).to_pylist()
        assert (entry["source_file"], entry["source_row"], entry["reason"]) == (case.file_name, 0, case.rejected)
        assert result.archive_path.read_bytes() == content
        # nothing of a malicious document's entities was read
        assert "root:" not in (entry["value"] or "")
        return
    assert result.status == ROUTED, result.recognition
    summaries = INGEST[result.source](result.partition, lake)
    (summary,) = [s for s in summaries if s.sha256 == result.sha256]
    assert summary.rows_in == summary.rows_accepted + summary.rows_quarantined
    assert (summary.reasons, summary.rows_accepted) == (case.reasons, case.accepted), summary.messages
    if case.message:
        assert any(re.search(case.message, message) for message in summary.messages), summary.messages
    for message in summary.messages:
        assert message.startswith((f"{case.file_name}: row ", f"{case.file_name}: the file"))
    manifest = {row["sha256"]: row for row in lake.read_table("input_files", result.partition).to_pylist()}
    row = manifest[result.sha256]
    assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"]
    quarantined = lake.read_quarantine(result.source, result.partition, case.file_name, result.sha256)
    assert (quarantined is None) == (not case.reasons)
