"""Every version of semt.002 (.03 to .11) and camt.053 (.02 to .13) a custodian may send, in the structure its message
definition gives it (the servicer's BIC as `BICOrBEI`, `AnyBIC` or `Id/AnyBIC`, `BIC` or `BICFI`; a security's
identifiers inside `Id` in semt.002.001.03; an entry's status as text until camt.053.001.07), reads into the same
rows; and a file holding several Documents is read as the pages of one statement, or refused saying what differs.
The messages are written by this project's sandbox from the ISO 20022 message definitions."""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import polars as pl
import pytest

from assets.custodian.iso20022 import SUPPORTED_VERSIONS
from assets.custodian.statements import ingest_custodian_day
from assets.inbox.intake import take_in_inbox
from foundation.lake import Lake
from custodian_day import STATEMENT_ROWS
from sandbox.file_drops import StatementRow, write_cash_statement, write_holdings_statement

DAY = date(2026, 1, 5)
# the day's holdings (semt.002) and its cash with its movements (camt.053)
HOLDINGS = [row for row in STATEMENT_ROWS if row.record_type == "holding"]
CASH = [row for row in STATEMENT_ROWS if row.record_type != "holding"]


def ingested(tmp_path, name: str, content: bytes):
    lake = Lake(tmp_path / "home")
    lake.home.inbox.mkdir(parents=True, exist_ok=True)
    (lake.home.inbox / name).write_bytes(content)
    (result,) = take_in_inbox(lake)
    summaries = ingest_custodian_day(DAY, lake) if result.status == "routed" else []
    return lake, result, summaries


def statement_rows(lake: Lake) -> list[tuple]:
    frame = pl.from_arrow(lake.read_table("custodian_statements", DAY))
    return frame.sort("source_row").select("custodian_id", "account_id", "record_type", "cusip", "par_value", "price",
                                           "market_value", "amount", "transaction_type").rows()


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS["semt.002"])
def test_every_semt_002_version_reads_into_the_same_holdings(tmp_path, version):
    path = tmp_path / "statement.xml"
    write_holdings_statement(path, DAY, "ACC-1", HOLDINGS, version=version)
    lake, result, [summary] = ingested(tmp_path, "holdings.xml", path.read_bytes())
    assert (result.recognition.format, result.recognition.producer_id, result.partition) == (version, "custodian-a", DAY)
    assert (summary.rows_in, summary.rows_accepted) == (2, 2), summary.messages
    assert statement_rows(lake) == [
        ("custodian-a", "ACC-1", "holding", "912797LB1", Decimal("1000000"), Decimal("98.9"), Decimal("989000"), None,
         None),
        ("custodian-a", "ACC-1", "holding", "912797MA2", Decimal("50000"), Decimal("98.8"), Decimal("49400"), None,
         None),
    ]


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS["camt.053"])
def test_every_camt_053_version_reads_into_the_same_cash_records(tmp_path, version):
    path = tmp_path / "statement.xml"
    write_cash_statement(path, DAY, "ACC-1", CASH, version=version)
    lake, result, [summary] = ingested(tmp_path, "cash.xml", path.read_bytes())
    assert (result.recognition.format, result.recognition.producer_id) == (version, "custodian-a")
    assert (summary.rows_in, summary.rows_accepted) == (4, 4), summary.messages
    assert [(r[2], r[3], r[4], r[7], r[8]) for r in statement_rows(lake)] == [
        ("opening_cash", None, None, Decimal("1000"), None),
        ("closing_cash", None, None, Decimal("201610"), None),
        ("transaction", None, None, Decimal("250000"), "cash_receipt"),
        ("transaction", "912797MA2", Decimal("50000"), Decimal("49390"), "tbill_purchase"),
    ]


def test_an_older_or_newer_version_than_the_definitions_read_is_refused_naming_the_range(tmp_path):
    path = tmp_path / "statement.xml"
    write_holdings_statement(path, DAY, "ACC-1", HOLDINGS, version="semt.002.001.02")
    _, result, _ = ingested(tmp_path, "holdings.xml", path.read_bytes())
    assert (result.recognition.problem, result.recognition.detail) == (
        "unsupported_message_version", "semt.002.001.02; supported: semt.002.001.03 to semt.002.001.11")


def page(tmp_path, number: int, rows: list[StatementRow], statement_total: str, day: date = DAY) -> bytes:
    """One page of a paginated semt.002: its own holdings, the whole statement's total."""
    path = tmp_path / f"page-{number}.xml"
    write_holdings_statement(path, day, "ACC-1", rows)
    text = path.read_text().split("\n", 1)[1]
    text = text.replace("<PgNb>1</PgNb>", f"<PgNb>{number}</PgNb>")
    return re.sub(r"(<TtlHldgsValOfStmt>\s*<Amt Ccy=\"USD\">)[^<]*", rf"\g<1>{statement_total}", text).encode()


def in_one_file(*documents: bytes) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<BizMsgs>' + b"".join(documents) + b"</BizMsgs>\n"


def test_the_pages_of_one_statement_in_one_file_are_read_as_one_statement(tmp_path):
    content = in_one_file(page(tmp_path, 1, HOLDINGS[:1], "1038400.00"), page(tmp_path, 2, HOLDINGS[1:], "1038400.00"))
    lake, result, [summary] = ingested(tmp_path, "holdings.xml", content)
    assert (result.status, result.partition) == ("routed", DAY)
    assert (summary.rows_in, summary.rows_accepted) == (2, 2), summary.messages
    assert [row[3] for row in statement_rows(lake)] == ["912797LB1", "912797MA2"]
    assertions = pl.from_arrow(lake.read_table("balance_assertions", DAY))
    assert assertions.filter(pl.col("sub_account").is_null()).get_column("amount").to_list() == [Decimal("1038400")]


def test_statements_of_different_days_in_one_file_are_taken_in_as_files_of_their_own(tmp_path):
    content = in_one_file(page(tmp_path, 1, HOLDINGS[:1], "989000.00"),
                          page(tmp_path, 1, HOLDINGS[1:], "49400.00", day=date(2026, 1, 6)))
    lake = Lake(tmp_path / "home")
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "holdings.xml").write_bytes(content)
    results = take_in_inbox(lake, clock=lambda: datetime(2026, 1, 7, 9))
    assert [(r.file_name, r.status, r.partition) for r in results] == [
        ("holdings.xml", "split", date(2026, 1, 7)),
        ("holdings.1-of-2.xml", "routed", DAY),
        ("holdings.2-of-2.xml", "routed", date(2026, 1, 6)),
    ]
    assert results[0].recognition.detail == (
        "2 Documents in one file with different statement dates (2026-01-05, 2026-01-06): each is a statement of its "
        "own; taken in as 2 files: holdings.1-of-2.xml, holdings.2-of-2.xml")
    assert results[0].archive_path.read_bytes() == content  # the file as received, kept
    [first] = ingest_custodian_day(DAY, lake)
    [second] = ingest_custodian_day(date(2026, 1, 6), lake)
    assert [(s.file_name, s.rows_accepted) for s in (first, second)] == [("holdings.1-of-2.xml", 1),
                                                                         ("holdings.2-of-2.xml", 1)]
    # the same bundle again: its documents are duplicates of what was taken in, not counted twice
    (lake.home.inbox / "holdings-again.xml").write_bytes(content)
    again = take_in_inbox(lake, clock=lambda: datetime(2026, 1, 7, 10))
    assert [r.status for r in again] == ["split", "duplicate", "duplicate"]
