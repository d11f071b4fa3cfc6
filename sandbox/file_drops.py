"""The off-chain files the sandbox drops into the inbox, in the formats they arrive in (docs/lake.md): lenders'
loan tapes (the tape schema's CSV, or a lender's own export: lender A's XLSX workbook, lender B's servicer CSV),
DCGM exporter scrapes in Prometheus text format or JSON lines, and custodian statements (ISO 20022 semt.002 and
camt.053, or the custodian's CSV).

The lenders' and the custodian's formats are written here as those companies' systems write them, independently
of how the pipeline is told to read them (assets/inbox/counterparties.toml): a mapping that drifted from the files shows
up as a failed ingest. Every file is written atomically (a temporary file, then a rename), so an ingester never
sees half a file, and byte for byte the same for the same inputs (no creation times)."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import polars as pl

CENT = Decimal("0.01")


def delivered_as_of(paths: Sequence[Path], day: date) -> None:
    """Date the files a simulated day delivered as they would have arrived: just after the day closed (00:30 UTC
    the next day), or ten minutes ago when that is later than now. The inbox takes a file in once it has been quiet
    for a while (assets/inbox/arrivals.py); a simulated history is long since delivered."""
    delivered = datetime.combine(day, time(0, 30), tzinfo=timezone.utc).timestamp() + 86_400
    delivered = min(delivered, datetime.now(timezone.utc).timestamp() - 600)
    for path in paths:
        os.utime(path, (delivered, delivered))


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def usd_text(value: Decimal | None) -> str:
    """Cents when the amount is whole cents ("1500.00"), else every significant decimal ("41.095890" → "41.09589")."""
    if value is None:
        return ""
    if value == value.quantize(CENT):
        return f"{value.quantize(CENT):f}"
    return f"{value.normalize():f}"


def grouped_usd_text(value: Decimal | None) -> str:
    """`usd_text` with thousands separators ("1,500,000.00"), as a servicer's report prints amounts."""
    text = usd_text(value)
    if not text:
        return text
    whole, _, fraction = text.partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def _csv_bytes(header: Sequence[str], rows: Sequence[Sequence[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


# --- loan tapes -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoanTapeRow:
    as_of_date: date
    lender_id: str
    loan_id: str
    loan_terms_hash: str
    borrower_id: str
    borrower_name: str
    currency: str
    original_principal: Decimal
    principal_outstanding: Decimal
    accrued_interest: Decimal
    daily_interest: Decimal
    interest_rate_bps: int
    status: str
    days_past_due: int
    origination_date: date
    maturity_date: date
    collateral: str
    insurance_cover_ratio: Decimal | None = None  # share of the loss covered, e.g. 0.70; None: no cover
    insurance_waiting_period_days: int | None = None


LOAN_TAPE_COLUMNS = tuple(f.name for f in fields(LoanTapeRow))


def loan_tape_path(inbox: Path, lender_id: str, as_of: date, extension: str = "csv") -> Path:
    return inbox / "loan_tapes" / f"{lender_id}-{as_of.isoformat()}.{extension}"


def collateral_schedule(nfts: Sequence[tuple[int, Sequence[str]]]) -> str:
    """`<nft_token_id>=<gpu_serial>[|<gpu_serial>...]` entries joined by `;`."""
    return ";".join(f"{token_id}={'|'.join(serials)}" for token_id, serials in nfts)


def write_loan_tape(path: Path, rows: Sequence[LoanTapeRow]) -> None:
    """The tape schema's own CSV (docs/loan-tape-schema.md)."""
    def text(value) -> str:
        if value is None:
            return ""
        if isinstance(value, Decimal):
            return usd_text(value)
        return value.isoformat() if isinstance(value, date) else str(value)

    write_atomically(path, _csv_bytes(LOAN_TAPE_COLUMNS, [[text(v) for v in astuple(row)] for row in rows]))


# Lender A's loan book system exports a workbook as a credit analyst would send it: a summary sheet first, then the
# tape under a merged title block, amounts in accounting format, the funding and maturity dates as the General-format
# serial numbers the export writes, the insured share as a percentage, a borrower's name merged over its loans, and a
# totals row and a note under the loans.
LENDER_A_SHEET = "Loan Tape"
LENDER_A_HEADER = (
    "Report Date", "Loan Number", "Loan Terms Hash", "Obligor ID", "Obligor Name", "Currency", "Original Balance",
    "Current Principal Balance", "Accrued Interest", "Interest Accrued Today", "Rate (bps)", "Loan Status",
    "Days Delinquent", "Funding Date", "Maturity Date", "Collateral Schedule", "Insured Share",
    "Insurance Waiting Period (days)",
)
LENDER_A_STATUS = {"current": "Performing", "delinquent": "Delinquent", "default": "Defaulted", "repaid": "Paid Off",
                   "liquidated": "Liquidated"}
LENDER_A_TITLE_ROWS = 3  # title, as-of line, a blank row; the header is row 4
# A fixed stamp for the workbook's zip entries and document properties, so the same tape is the same bytes.
_WORKBOOK_EPOCH = (1980, 1, 1, 0, 0, 0)
_EXCEL_1900_EPOCH = date(1899, 12, 30)
_ACCOUNTING_FORMAT = '#,##0.00_);(#,##0.00)'


def excel_serial(value: date) -> int:
    """A date as a 1900-system workbook stores it (days since 1899-12-30)."""
    return (value - _EXCEL_1900_EPOCH).days


def write_lender_a_workbook(path: Path, as_of: date, rows: Sequence[LoanTapeRow]) -> None:
    """Lender A's XLSX export. Amounts are spreadsheet numbers, as a lender's system writes them: each holds at
    most 15 significant digits, which a spreadsheet number represents exactly."""
    import openpyxl

    workbook = openpyxl.Workbook()
    summary = workbook.active
    summary.title = "Summary"
    summary.append(["Lender A - portfolio summary"])
    summary.append(["As of", _as_midnight(as_of)])
    summary.append(["Loans", len(rows)])
    summary.append(["Principal outstanding", _spreadsheet_number(sum((row.principal_outstanding for row in rows),
                                                                      Decimal(0)))])
    sheet = workbook.create_sheet(LENDER_A_SHEET)
    sheet.append(["Lender A - GPU-backed loan book"])
    sheet.append([f"As of {as_of:%d %B %Y}"])
    sheet.append([])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=6)
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=6)
    sheet.append(list(LENDER_A_HEADER))
    first_row = LENDER_A_TITLE_ROWS + 2
    for row in rows:
        sheet.append([
            _as_midnight(row.as_of_date), row.loan_id, row.loan_terms_hash, row.borrower_id, row.borrower_name,
            row.currency, _spreadsheet_number(row.original_principal), _spreadsheet_number(row.principal_outstanding),
            _spreadsheet_number(row.accrued_interest), _spreadsheet_number(row.daily_interest), row.interest_rate_bps,
            LENDER_A_STATUS[row.status], row.days_past_due, excel_serial(row.origination_date),
            excel_serial(row.maturity_date), row.collateral,
            _spreadsheet_number(row.insurance_cover_ratio), row.insurance_waiting_period_days,
        ])
        for column in (7, 8, 9, 10):
            sheet.cell(sheet.max_row, column).number_format = _ACCOUNTING_FORMAT
        sheet.cell(sheet.max_row, 17).number_format = "0.0%"
    # one borrower's consecutive loans under one merged name cell
    start = first_row
    for number in range(first_row + 1, first_row + len(rows) + 1):
        same = number < first_row + len(rows) and rows[number - first_row].borrower_name == rows[start - first_row].borrower_name
        if not same:
            if number - 1 > start:
                sheet.merge_cells(start_row=start, start_column=5, end_row=number - 1, end_column=5)
            start = number
    totals = ["Total", *[None] * 5]
    for column in ("original_principal", "principal_outstanding"):
        total = sum((getattr(row, column) for row in rows), Decimal(0))
        totals.append(_spreadsheet_number(total) if len(total.normalize().as_tuple().digits) <= 15 else None)
    sheet.append(totals)
    sheet.append([])
    sheet.append(["Amounts in US dollars. Prepared from the loan servicing system; confidential."])
    stamp = datetime.combine(as_of, time(0))
    workbook.properties.created = stamp
    workbook.properties.creator = "Lender A loan book"
    buffer = io.BytesIO()
    workbook.save(buffer)
    write_atomically(path, _reproducible_workbook(buffer.getvalue(), stamp))


# Lender B's servicer sends a CSV with its own short headers, US dates and amounts with thousands separators.
LENDER_B_HEADER = (
    "AsOfDate", "Lender", "LoanID", "TermsHash", "BorrowerID", "BorrowerName", "Ccy", "OrigPrincipal", "UPB",
    "AccruedInt", "DailyInt", "RateBps", "Status", "DPD", "OrigDate", "MatDate", "Collateral", "InsCoverRatio",
    "InsWaitDays",
)


def write_lender_b_csv(path: Path, rows: Sequence[LoanTapeRow],
                       extra_columns: Sequence[tuple[str, str]] = ()) -> None:
    """Lender B's servicer CSV; `extra_columns` (header, value of every row) are appended, as a servicer's system
    does when it starts exporting a new field."""
    def us_date(value: date) -> str:
        return f"{value:%m/%d/%Y}"

    lines = [
        [us_date(row.as_of_date), row.lender_id, row.loan_id, row.loan_terms_hash, row.borrower_id, row.borrower_name,
         row.currency, grouped_usd_text(row.original_principal), grouped_usd_text(row.principal_outstanding),
         grouped_usd_text(row.accrued_interest), grouped_usd_text(row.daily_interest), str(row.interest_rate_bps), row.status,
         str(row.days_past_due), us_date(row.origination_date), us_date(row.maturity_date), row.collateral,
         "" if row.insurance_cover_ratio is None else f"{row.insurance_cover_ratio:f}",
         "" if row.insurance_waiting_period_days is None else str(row.insurance_waiting_period_days),
         *(value for _, value in extra_columns)]
        for row in rows
    ]
    write_atomically(path, _csv_bytes([*LENDER_B_HEADER, *(name for name, _ in extra_columns)], lines))


def _as_midnight(value: date) -> datetime:
    return datetime.combine(value, time(0))


def _spreadsheet_number(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    number = float(value)
    if Decimal(repr(number)) != value:
        raise ValueError(f"{value} has no exact spreadsheet number")
    return number


def _reproducible_workbook(content: bytes, stamp: datetime) -> bytes:
    """The workbook with fixed zip entry times and document times (openpyxl stamps both with the clock)."""
    moment = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)",
                              rb"\g<1>" + moment.encode() + rb"\g<2>", data)
            entry = zipfile.ZipInfo(member.filename, date_time=_WORKBOOK_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, data)
    return out.getvalue()


# --- custodian statements ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StatementRow:
    record_type: str  # opening_cash, closing_cash, holding, transaction
    cusip: str = ""
    security_description: str = ""
    maturity_date: date | None = None
    par_value: Decimal | None = None
    price: Decimal | None = None
    market_value: Decimal | None = None
    amount: Decimal | None = None
    transaction_type: str = ""
    reference: str = ""


STATEMENT_COLUMNS = ("statement_date", "cut_off_time", "custodian_id", "account_id", "record_type", "cusip",
                     "security_description", "maturity_date", "par_value", "price", "market_value", "amount",
                     "currency", "transaction_type", "reference")


def custodian_statement_path(inbox: Path, custodian_id: str, statement_date: date, kind: str = "",
                             extension: str = "csv") -> Path:
    name = f"{custodian_id}-{kind}-{statement_date.isoformat()}" if kind else f"{custodian_id}-{statement_date.isoformat()}"
    return inbox / "custodian" / f"{name}.{extension}"


def write_custodian_statement(path: Path, statement_date: date, custodian_id: str, account_id: str,
                              rows: Sequence[StatementRow]) -> None:
    cut_off = f"{statement_date.isoformat()}T23:59:59Z"
    lines = [
        [statement_date.isoformat(), cut_off, custodian_id, account_id, row.record_type, row.cusip,
         row.security_description, row.maturity_date.isoformat() if row.maturity_date else "",
         usd_text(row.par_value), f"{row.price:f}" if row.price is not None else "", usd_text(row.market_value),
         usd_text(row.amount), "USD", row.transaction_type, row.reference]
        for row in rows
    ]
    write_atomically(path, _csv_bytes(STATEMENT_COLUMNS, lines))


# The custodian's BIC as it appears in its ISO 20022 messages.
CUSTODIAN_BIC = "SNDBUS33XXX"
ISO20022_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:"
HOLDINGS_VERSION = "semt.002.001.11"
CASH_VERSION = "camt.053.001.08"


def write_holdings_statement(path: Path, statement_date: date, account_id: str, rows: Sequence[StatementRow],
                             version: str = HOLDINGS_VERSION, envelope: str | None = None) -> None:
    """semt.002 (securities balance custody report): the `holding` rows, valued in USD, with the statement total, in
    the structure of `version` (.03 to .11)."""
    ns = ISO20022_NAMESPACE + version
    number = int(version.rsplit(".", 1)[1])
    document = ElementTree.Element("Document")
    report = _child(document, ns, "SctiesBalCtdyRpt")
    pagination = _child(report, ns, "Pgntn")
    _child(pagination, ns, "PgNb", "1")
    _child(pagination, ns, "LastPgInd", "true")
    general = _child(report, ns, "StmtGnlDtls")
    _child(general, ns, "StmtId", f"HLD-{account_id}-{statement_date:%Y%m%d}")
    _child(_child(general, ns, "StmtDtTm"), ns, "DtTm", f"{statement_date.isoformat()}T23:59:59Z")
    _child(_child(general, ns, "Frqcy"), ns, "Cd", "DAIL")
    _child(_child(general, ns, "UpdTp"), ns, "Cd", "COMP")
    _child(_child(general, ns, "StmtBsis"), ns, "Cd", "SETT")
    _child(general, ns, "ActvtyInd", "true")
    _child(general, ns, "SubAcctInd", "false")
    servicer = _child(report, ns, "AcctSvcr")
    if number == 3:
        _child(servicer, ns, "BICOrBEI", CUSTODIAN_BIC)
    elif number <= 8:
        _child(servicer, ns, "AnyBIC", CUSTODIAN_BIC)
    else:
        _child(_child(servicer, ns, "Id"), ns, "AnyBIC", CUSTODIAN_BIC)
    _child(_child(report, ns, "SfkpgAcct"), ns, "Id", account_id)
    total = Decimal(0)
    for row in rows:
        if row.record_type != "holding":
            continue
        balance = _child(report, ns, "BalForAcct")
        instrument = _child(balance, ns, "FinInstrmId")
        if number == 3:  # the identifier inside `Id`, its scheme a proprietary source
            other = _child(_child(instrument, ns, "Id"), ns, "OthrId")
            _child(other, ns, "Id", row.cusip)
            _child(_child(other, ns, "IdSrc"), ns, "Prtry", "CUSP")
        else:
            other = _child(instrument, ns, "OthrId")
            _child(other, ns, "Id", row.cusip)
            _child(_child(other, ns, "Tp"), ns, "Cd", "CUSP")
        _child(instrument, ns, "Desc", row.security_description)
        _child(_child(balance, ns, "FinInstrmAttrbts"), ns, "MtrtyDt", row.maturity_date.isoformat())
        aggregate = _child(balance, ns, "AggtBal")
        _child(aggregate, ns, "ShrtLngInd", "LONG")
        # balance quantity → quantity choice → financial instrument quantity: three levels in every version
        _child(_child(_child(_child(aggregate, ns, "Qty"), ns, "Qty"), ns, "Qty"), ns, "FaceAmt",
               usd_text(row.par_value))
        price = _child(balance, ns, "PricDtls")
        _child(_child(price, ns, "Tp"), ns, "Cd", "MRKT")
        _child(_child(price, ns, "Val"), ns, "Rate", f"{row.price:f}")
        _child(_child(price, ns, "ValTp"), ns, "Yldd", "false")
        value = _child(_child(balance, ns, "AcctBaseCcyAmts"), ns, "HldgVal")
        _child(value, ns, "Amt", usd_text(row.market_value), Ccy="USD")
        _child(value, ns, "Sgn", "true")
        total += row.market_value
    totals = _child(_child(report, ns, "AcctBaseCcyTtlAmts"), ns, "TtlHldgsValOfStmt")
    _child(totals, ns, "Amt", usd_text(total), Ccy="USD")
    _child(totals, ns, "Sgn", "true")
    write_atomically(path, _business_message(_xml_bytes(document, ns), version, f"HLD-{statement_date:%Y%m%d}",
                                             statement_date, envelope))


# Bank transaction codes (ISO 20022 domain/family/sub-family) of the custodian's cash entries.
_BANK_TRANSACTION_CODES = {
    "cash_receipt": ("PMNT", "RCDT", "OTHR", "CRDT"),
    "tbill_purchase": ("SECU", "SETT", "TRAD", "DBIT"),
    "tbill_maturity": ("SECU", "CORP", "REDM", "CRDT"),
}


def write_cash_statement(path: Path, statement_date: date, account_id: str, rows: Sequence[StatementRow],
                         version: str = CASH_VERSION, envelope: str | None = None) -> None:
    """camt.053 (bank to customer statement): opening and closing booked balances and one entry per cash movement, in
    the structure of `version` (.02 to .13)."""
    ns = ISO20022_NAMESPACE + version
    number = int(version.rsplit(".", 1)[1])
    legacy = number == 2  # the servicer's BIC and the security's identification took other forms in .02
    document = ElementTree.Element("Document")
    message = _child(document, ns, "BkToCstmrStmt")
    header = _child(message, ns, "GrpHdr")
    _child(header, ns, "MsgId", f"CSH-{account_id}-{statement_date:%Y%m%d}")
    _child(header, ns, "CreDtTm", f"{statement_date.isoformat()}T23:59:59Z")
    statement = _child(message, ns, "Stmt")
    _child(statement, ns, "Id", f"CSH-{account_id}-{statement_date:%Y%m%d}")
    _child(statement, ns, "CreDtTm", f"{statement_date.isoformat()}T23:59:59Z")
    period = _child(statement, ns, "FrToDt")
    _child(period, ns, "FrDtTm", f"{statement_date.isoformat()}T00:00:00Z")
    _child(period, ns, "ToDtTm", f"{statement_date.isoformat()}T23:59:59Z")
    account = _child(statement, ns, "Acct")
    _child(_child(_child(account, ns, "Id"), ns, "Othr"), ns, "Id", account_id)
    _child(account, ns, "Ccy", "USD")
    _child(_child(_child(account, ns, "Svcr"), ns, "FinInstnId"), ns, "BIC" if legacy else "BICFI", CUSTODIAN_BIC)
    for row in rows:
        if row.record_type in ("opening_cash", "closing_cash"):
            balance = _child(statement, ns, "Bal")
            code = "OPBD" if row.record_type == "opening_cash" else "CLBD"
            _child(_child(_child(balance, ns, "Tp"), ns, "CdOrPrtry"), ns, "Cd", code)
            _child(balance, ns, "Amt", usd_text(abs(row.amount)), Ccy="USD")
            _child(balance, ns, "CdtDbtInd", "DBIT" if row.amount < 0 else "CRDT")
            _child(_child(balance, ns, "Dt"), ns, "Dt", statement_date.isoformat())
    for row in rows:
        if row.record_type != "transaction":
            continue
        domain, family, sub_family, direction = _BANK_TRANSACTION_CODES[row.transaction_type]
        entry = _child(statement, ns, "Ntry")
        _child(entry, ns, "Amt", usd_text(row.amount), Ccy="USD")
        _child(entry, ns, "CdtDbtInd", direction)
        if number <= 6:  # the status is a code list's text until .07
            _child(entry, ns, "Sts", "BOOK")
        else:
            _child(_child(entry, ns, "Sts"), ns, "Cd", "BOOK")
        _child(_child(entry, ns, "BookgDt"), ns, "Dt", statement_date.isoformat())
        _child(_child(entry, ns, "ValDt"), ns, "Dt", statement_date.isoformat())
        if row.transaction_type != "cash_receipt":
            _child(entry, ns, "AcctSvcrRef", row.reference)
        code = _child(_child(entry, ns, "BkTxCd"), ns, "Domn")
        _child(code, ns, "Cd", domain)
        code_family = _child(code, ns, "Fmly")
        _child(code_family, ns, "Cd", family)
        _child(code_family, ns, "SubFmlyCd", sub_family)
        details = _child(_child(entry, ns, "NtryDtls"), ns, "TxDtls")
        if row.transaction_type == "cash_receipt":
            # The on-chain transfer the reserve came by: too long for an end-to-end id, so in the remittance text.
            _child(_child(details, ns, "RmtInf"), ns, "Ustrd", row.reference)
        else:
            _child(_child(_child(details, ns, "RltdQties"), ns, "Qty"), ns, "FaceAmt", usd_text(row.par_value))
            instrument = _child(details, ns, "FinInstrmId")
            if legacy:
                proprietary = _child(instrument, ns, "Prtry")
                _child(proprietary, ns, "Tp", "CUSIP")
                _child(proprietary, ns, "Id", row.cusip)
                _child(details, ns, "AddtlTxInf", row.security_description)
            else:
                other = _child(instrument, ns, "OthrId")
                _child(other, ns, "Id", row.cusip)
                _child(_child(other, ns, "Tp"), ns, "Cd", "CUSP")
                _child(instrument, ns, "Desc", row.security_description)
    write_atomically(path, _business_message(_xml_bytes(document, ns), version, f"CSH-{statement_date:%Y%m%d}",
                                             statement_date, envelope))


# Who the custodian addresses its messages to: the protocol's sandbox BIC.
RECEIVER_BIC = "BCKDUS33XXX"
# How a statement arrives: the Document alone; its business application header (head.001.001.02) beside it, as two
# top-level elements; or header and Document in the body of a SWIFT Alliance `DataPDU` (saa.2.0), as FileAct
# delivers them.
STATEMENT_ENVELOPES = (None, "app_hdr", "data_pdu")


def _business_message(document: bytes, message: str, identifier: str, statement_date: date,
                      envelope: str | None) -> bytes:
    if envelope is None:
        return document
    declaration, body = document.split(b"\n", 1)
    header = (f'<AppHdr xmlns="urn:iso:std:iso:20022:tech:xsd:head.001.001.02">'
              f"<Fr><FIId><FinInstnId><BICFI>{CUSTODIAN_BIC}</BICFI></FinInstnId></FIId></Fr>"
              f"<To><FIId><FinInstnId><BICFI>{RECEIVER_BIC}</BICFI></FinInstnId></FIId></To>"
              f"<BizMsgIdr>{identifier}</BizMsgIdr><MsgDefIdr>{message}</MsgDefIdr>"
              f"<CreDt>{statement_date.isoformat()}T23:59:59Z</CreDt></AppHdr>\n").encode()
    if envelope == "app_hdr":
        return declaration + b"\n" + header + body
    if envelope != "data_pdu":
        raise ValueError(f"unknown statement envelope {envelope!r}; one of {STATEMENT_ENVELOPES}")
    return (declaration + b'\n<Saa:DataPDU xmlns:Saa="urn:swift:saa:xsd:saa.2.0"><Saa:Revision>2.0.14</Saa:Revision>'
            b"<Saa:Header><Saa:Message><Saa:SenderReference>" + identifier.encode() + b"</Saa:SenderReference>"
            b"<Saa:MessageIdentifier>" + message.encode() + b"</Saa:MessageIdentifier><Saa:Format>MX</Saa:Format>"
            b"</Saa:Message></Saa:Header><Saa:Body>\n" + header + body + b"</Saa:Body></Saa:DataPDU>\n")


def _child(parent: ElementTree.Element, ns: str, name: str, text: str | None = None, **attributes: str):
    element = ElementTree.SubElement(parent, name, attributes)
    if text is not None:
        element.text = text
    return element


def _xml_bytes(document: ElementTree.Element, ns: str) -> bytes:
    """The document in the message's namespace, declared once on the root as the default namespace."""
    document.set("xmlns", ns)
    ElementTree.indent(document)
    return ElementTree.tostring(document, encoding="UTF-8", xml_declaration=True) + b"\n"


# --- DCGM telemetry ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GpuFeed:
    """One GPU as the DCGM exporter on its host reports it, and how it behaves on the day."""

    uuid: str
    serial: str
    index: int  # position on its host: the `gpu` label, device nvidia<index>
    hostname: str
    model_name: str
    util_base: int  # %
    temp_base: int  # °C
    power_base_mw: int  # draw at full load, milliwatts
    dark_from_s: int | None = None  # seconds into the day from which the GPU stops reporting
    xid_events: tuple[tuple[int, int], ...] = ()  # (scrape number, XID code)

    @property
    def pci_bus_id(self) -> str:
        return f"00000000:{0x18 + 0x11 * self.index:02X}:00.0"

    @property
    def exporter_labels(self) -> dict[str, str]:
        """The labels a stock dcgm-exporter writes (no serial), and the scrape target's that Prometheus adds."""
        return {"gpu": str(self.index), "UUID": self.uuid, "pci_bus_id": self.pci_bus_id, "device": f"nvidia{self.index}",
                "modelName": self.model_name, "Hostname": self.hostname, "DCGM_FI_DRIVER_VERSION": DRIVER_VERSION,
                "instance": f"{self.hostname}:9400", "job": "dcgm-exporter"}

    @property
    def labels(self) -> str:
        return "{" + ",".join(f'{name}="{value}"' for name, value in self.exporter_labels.items()) + "}"

    @property
    def scrape_labels(self) -> str:
        """The labels as the exporter's own /metrics writes them: the scrape target's are Prometheus' to add."""
        return "{" + ",".join(f'{name}="{value}"' for name, value in self.exporter_labels.items()
                              if name not in ("instance", "job")) + "}"


# The NVIDIA driver the sandbox's nodes run (the exporter's DCGM_FI_DRIVER_VERSION label).
DRIVER_VERSION = "550.54.15"


DCGM_FAMILIES = (
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "util"),
    ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", "temp"),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "power"),
    ("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered.", "xid"),
)


def dcgm_path(inbox: Path, day: date) -> Path:
    return inbox / "telemetry" / f"dcgm-{day.isoformat()}.prom"


def dcgm_scrapes(day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int, seed: int) -> pl.DataFrame:
    """One row per GPU per scrape the GPU answered: scrape number, epoch ms and the four gauges as text."""
    scrapes = np.arange(0, 86_400, scrape_interval_s, dtype=np.int64)
    day_start_ms = int(datetime.combine(day, time(0), tzinfo=timezone.utc).timestamp()) * 1000
    rng = np.random.default_rng([seed, day.toordinal()])
    shape = (len(gpus), len(scrapes))
    base_util = np.array([[g.util_base] for g in gpus], dtype=np.int64).reshape(-1, 1)
    util = np.clip(base_util + rng.integers(-9, 10, size=shape), 0, 100)
    temp = np.array([[g.temp_base] for g in gpus], dtype=np.int64).reshape(-1, 1) + (util - base_util) // 4 \
        + rng.integers(-2, 3, size=shape)
    full_load_mw = np.array([[g.power_base_mw] for g in gpus], dtype=np.int64).reshape(-1, 1)
    # Idle draw is about a sixth of full load; the rest scales with utilisation.
    power_mw = full_load_mw // 6 + (full_load_mw * 5 // 6) * util // 100 + rng.integers(-4_000, 4_001, size=shape)
    xid = np.zeros(shape, dtype=np.int64)
    for row, gpu in enumerate(gpus):
        for scrape, code in gpu.xid_events:
            xid[row, scrape] = code
    dark_from = np.array([[g.dark_from_s if g.dark_from_s is not None else 86_400] for g in gpus],
                         dtype=np.int64).reshape(-1, 1)
    online = scrapes.reshape(1, -1) < dark_from
    gpu_row, scrape_col = np.nonzero(online)
    return pl.DataFrame({
        "gpu_row": gpu_row.astype(np.int64),
        "timestamp_ms": day_start_ms + scrapes[scrape_col] * 1000,
        "util": util[online],
        "temp": temp[online],
        "power_mw": power_mw[online],
        "xid": xid[online],
    })


def write_dcgm_scrapes(path: Path, day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int, seed: int) -> None:
    """Every scrape of the day in Prometheus text format: each family's HELP/TYPE once, then its samples by
    scrape time and GPU, each with a millisecond timestamp."""
    samples = dcgm_scrapes(day, gpus, scrape_interval_s, seed).with_columns(
        pl.col("gpu_row").replace_strict(list(range(len(gpus))), [g.labels for g in gpus],
                                         return_dtype=pl.String).alias("labels"),
        pl.col("util").cast(pl.String),
        pl.col("temp").cast(pl.String),
        pl.format("{}.{}", pl.col("power_mw") // 1000,
                  (pl.col("power_mw") % 1000).cast(pl.String).str.zfill(3)).alias("power"),
        pl.col("xid").cast(pl.String),
    ).sort("timestamp_ms", "gpu_row")
    blocks = []
    for family, help_text, column in DCGM_FAMILIES:
        blocks.append(f"# HELP {family} {help_text}\n# TYPE {family} gauge\n")
        if samples.height:
            blocks.append(samples.select(
                pl.concat_str([pl.lit(family), pl.col("labels"), pl.lit(" "), pl.col(column), pl.lit(" "),
                               pl.col("timestamp_ms").cast(pl.String), pl.lit("\n")]).str.join("")
            ).item())
    write_atomically(path, "".join(blocks).encode())


def write_raw_scrapes(directory: Path, day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int,
                      seed: int) -> list[Path]:
    """The day's scrapes of the hosts' exporters as a collector saves them, each scrape of one host's /metrics in a
    file of its own named by the host and the UTC time (`quanta-node-01-20260102T001000Z.prom`): HELP and TYPE per
    family, no sample timestamps. The same samples as `write_dcgm_scrapes` writes for these GPUs."""
    samples = dcgm_scrapes(day, gpus, scrape_interval_s, seed).with_columns(
        pl.col("gpu_row").replace_strict(list(range(len(gpus))), [g.hostname for g in gpus],
                                         return_dtype=pl.String).alias("hostname"),
        pl.col("gpu_row").replace_strict(list(range(len(gpus))), [g.scrape_labels for g in gpus],
                                         return_dtype=pl.String).alias("labels"),
        pl.format("{}.{}", pl.col("power_mw") // 1000,
                  (pl.col("power_mw") % 1000).cast(pl.String).str.zfill(3)).alias("power"),
    ).sort("hostname", "timestamp_ms", "gpu_row")
    families = [
        pl.concat_str(pl.lit(f"# HELP {family} {help_text}\n# TYPE {family} gauge\n"),
                      pl.concat_str(pl.lit(family), pl.col("labels"), pl.lit(" "), pl.col(column).cast(pl.String),
                                    pl.lit("\n")).str.join(""))
        for family, help_text, column in DCGM_FAMILIES
    ]
    scrapes = samples.group_by("hostname", "timestamp_ms", maintain_order=True).agg(
        pl.concat_str(families).alias("text"))
    paths = []
    for hostname, timestamp_ms, text in scrapes.iter_rows():  # one file per scrape of a host, not per sample
        moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=timezone.utc)
        path = directory / f"{hostname}-{moment:%Y%m%dT%H%M%SZ}.prom"
        write_atomically(path, text.encode())
        paths.append(path)
    return paths


def write_prometheus_query_range(path: Path, day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int,
                                 seed: int) -> None:
    """The same samples as the Prometheus HTTP API answers `query_range` over the day (a matrix, as teams export
    history): a series per family and GPU, times in seconds, values as strings."""
    samples = dcgm_scrapes(day, gpus, scrape_interval_s, seed).with_columns(
        pl.format("{}.{}", pl.col("power_mw") // 1000,
                  (pl.col("power_mw") % 1000).cast(pl.String).str.zfill(3)).alias("power"),
        (pl.col("timestamp_ms") // 1000).alias("seconds"),
    ).sort("gpu_row", "timestamp_ms")
    series = []
    for family, _, column in DCGM_FAMILIES:
        pairs = samples.group_by("gpu_row", maintain_order=True).agg(
            pl.concat_str(pl.lit("["), pl.col("seconds").cast(pl.String), pl.lit(',"'), pl.col(column).cast(pl.String),
                          pl.lit('"]')).str.join(",").alias("values"))
        for gpu_row, values in pairs.iter_rows():
            metric = json.dumps({"__name__": family, **gpus[gpu_row].exporter_labels})
            series.append(f'{{"metric":{metric},"values":[{values}]}}')
    document = '{"status":"success","data":{"resultType":"matrix","result":[' + ",".join(series) + "]}}"
    write_atomically(path, document.encode())


def prometheus_query_range_path(inbox: Path, host_prefix: str, day: date) -> Path:
    return inbox / "telemetry" / f"prometheus-query-range-{host_prefix}-{day.isoformat()}.json"


def write_gpu_inventory(path: Path, gpus: Sequence[GpuFeed]) -> None:
    """What `nvidia-smi --query-gpu=index,name,serial,uuid,pci.bus_id,memory.total --format=csv` prints on the
    nodes, one node after another."""
    lines = ["index, name, serial, uuid, pci.bus_id, memory.total [MiB]"]
    lines += [f"{g.index}, {g.model_name}, {g.serial}, {g.uuid}, {g.pci_bus_id}, 81559 MiB"
              for g in sorted(gpus, key=lambda g: (g.hostname, g.index))]
    write_atomically(path, ("\n".join(lines) + "\n").encode())


def gpu_inventory_path(inbox: Path, host_prefix: str, day: date) -> Path:
    return inbox / "telemetry" / f"gpu-inventory-{host_prefix}-{day.isoformat()}.csv"


def dcgm_json_lines_path(inbox: Path, day: date) -> Path:
    return inbox / "telemetry" / f"dcgm-{day.isoformat()}.jsonl"


def write_dcgm_json_lines(path: Path, day: date, gpus: Sequence[GpuFeed], scrape_interval_s: int, seed: int) -> None:
    """The same samples as `write_dcgm_scrapes`, one JSON object per line: metric, labels, value, timestamp_ms."""
    labels = [json.dumps(g.exporter_labels) for g in gpus]
    samples = dcgm_scrapes(day, gpus, scrape_interval_s, seed).with_columns(
        pl.col("gpu_row").replace_strict(list(range(len(gpus))), labels, return_dtype=pl.String).alias("labels"),
        pl.format("{}.{}", pl.col("power_mw") // 1000,
                  (pl.col("power_mw") % 1000).cast(pl.String).str.zfill(3)).alias("power"),
    ).sort("timestamp_ms", "gpu_row")
    blocks = []
    for family, _, column in DCGM_FAMILIES:
        if samples.height:
            blocks.append(samples.select(pl.concat_str([
                pl.lit(f'{{"metric":"{family}","labels":'), pl.col("labels"), pl.lit(',"value":'),
                pl.col(column).cast(pl.String), pl.lit(',"timestamp_ms":'), pl.col("timestamp_ms").cast(pl.String),
                pl.lit("}\n"),
            ])).to_series().str.join("").item())
    write_atomically(path, "".join(blocks).encode())
