"""Fuzzing every file parser and the chain log decoder: whatever arrives, nothing raises out of intake or
ingestion.

Good files written by the sandbox's own writers (sandbox/file_drops.py) are broken the ways files really break: bits
flipped, cut short, junk bytes or random text inserted, a field replaced by a huge number, another script's digits,
a formula or a lone quote, a line repeated; workbooks also get hostile cell values and a damaged sheet inside a
sound zip, ISO 20022 messages hostile element texts, scrapes generated sample lines. Pure random bytes go in too.
Each input is dropped in a fresh inbox and taken in and ingested like any file. The property: every input is refused
whole with a reason (archived as rejected, its reason on row 0 of its quarantine entry) or ingested, with rows in =
rows accepted + rows quarantined, every quarantine entry with its reason, and as many rows in the lake as accepted.

The chain log decoder gets eth_getLogs entries with random topics and data, around the registry's own topic0s:
each one decodes to an event or is kept raw in `chain_logs_unknown`. The one exception a decoded log may raise is
the one the ingester documents, `RawAmountOutOfRange` (an amount that does not fit DECIMAL(38,0)), which stops the
day naming the log rather than rounding money (tests/test_ingest_chain.py); it is not quarantined.

Hypothesis runs derandomised (the same inputs on every run, so CI is reproducible) and without an example database.
The counts (inputs tried, unhandled, accepted: every row accepted or the log decoded; quarantined: refused whole, some
rows quarantined, or the log kept raw or refused) go to `fuzz.json` in the session's temporary folder and, when
BACKED_RELIABILITY_DIR is set, to `$BACKED_RELIABILITY_DIR/reports/reliability/fuzz.json`.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import openpyxl
from eth_abi import encode as abi_encode
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from openpyxl.utils.exceptions import IllegalCharacterError

from assets.chain.blocks import BlockHeader
from assets.chain.ingest import _event_row, _table, _unknown_log_row
from assets.chain.registry import REGISTRY, DecodedLog, decode_log
from assets.custodian.statements import ingest_custodian_day
from assets.inbox.register import REJECTED, ROUTED
from assets.inbox.intake import take_in_inbox
from foundation.lake import Lake
from foundation.money import RawAmountOutOfRange
from assets.loan_tapes.tape import ingest_loan_tapes_day
from assets.telemetry.scrapes import ingest_telemetry_day, join_collateral_telemetry
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
    write_lender_b_csv,
    write_loan_tape,
)
from reliability import Comparisons, record_bad_inputs

DAY = date(2026, 1, 5)
# Intake's clock: the day after the files' day, so "dated in the future" is decided the same way on every run.
RECEIVED_AT = datetime(2026, 1, 6, 12, 0)

INGEST = {"loan_tapes": ingest_loan_tapes_day, "custodian": ingest_custodian_day, "telemetry": ingest_telemetry_day}
# The lake table holding one row per accepted row of a file of the source (telemetry is rolled up per GPU).
ROW_TABLES = {"loan_tapes": "loan_tapes", "custodian": "custodian_statements"}


# Hypothesis's own files (caches it writes from collection on) go to the temporary folder, not into the repository.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "backed-hypothesis")

# More examples for a longer hunt (`make reliability` runs BACKED_FUZZ_SCALE=5); `make test`'s half keeps the module
# at about 20 s of a worker.
FUZZ_SCALE = float(os.environ.get("BACKED_FUZZ_SCALE", "0.5"))


def fuzz_settings(max_examples: int) -> settings:
    return settings(derandomize=True, database=None, max_examples=max(1, round(max_examples * FUZZ_SCALE)),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- the good files -----------------------------------------------------------------------------------------------

GPUS = [GpuFeed(f"GPU-0a1b2c3d-0000-4000-8000-00000000000{n}", f"165292200000{n}", n, "node-01",
                "NVIDIA H100 80GB HBM3", 70, 60, 700_000, xid_events=((1, 79),) if n == 2 else ()) for n in (1, 2)]
HOLDINGS = STATEMENT_ROWS


def loan(number: int, lender_id: str, **changes) -> LoanTapeRow:
    row = dict(
        as_of_date=DAY, lender_id=lender_id, loan_id=f"L-{number}", loan_terms_hash="0x" + f"{number:02d}" * 32,
        borrower_id=f"B-{number}", borrower_name="Foundry, Inc.", currency="USDC", original_principal=Decimal("500000"),
        principal_outstanding=Decimal("400000"), accrued_interest=Decimal("82.191780"),
        daily_interest=Decimal("82.19178"), interest_rate_bps=750, status="current", days_past_due=0,
        origination_date=date(2025, 12, 1), maturity_date=date(2026, 12, 1),
        collateral=f"{1000 + number}=165292200000{number}|GPU-0a1b2c3d-0000-4000-8000-00000000000{number}",
        insurance_cover_ratio=Decimal("0.70"), insurance_waiting_period_days=21,
    )
    row.update(changes)
    return LoanTapeRow(**row)


def written(write: Callable[[Path], None]) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "good"
        write(path)
        return path.read_bytes()


TAPE_CSV = written(lambda p: write_loan_tape(p, [loan(1, "acme"), loan(2, "acme", status="delinquent",
                                                                        days_past_due=4)]))
LENDER_B_CSV = written(lambda p: write_lender_b_csv(p, [loan(1, "lender-b"), loan(2, "lender-b")]))
# as an analyst sends it: a title block above the header, a totals row and a note below the loans
TITLED_TAPE_CSV = (b"Acme Capital - GPU loan tape\nAs of 5 January 2026\n\n" + TAPE_CSV
                   + b"Total,,,,,,,1000000.00,800000.00\n\nAmounts in US dollars.\n")
LENDER_A_XLSX = written(lambda p: write_lender_a_workbook(p, DAY, [loan(1, "lender-a"), loan(2, "lender-a")]))
STATEMENT_CSV = written(lambda p: write_custodian_statement(p, DAY, "custodian-a", "ACC-1", HOLDINGS))
# each structure the message definitions give (docs/lake.md), alone or in the envelopes custodians send them in
SEMT = [written(lambda p, v=version, e=envelope: write_holdings_statement(p, DAY, "ACC-1", HOLDINGS, version=v,
                                                                         envelope=e))
        for version, envelope in (("semt.002.001.11", None), ("semt.002.001.09", None),
                                  ("semt.002.001.05", "app_hdr"), ("semt.002.001.03", "data_pdu"))]
CAMT = [written(lambda p, v=version, e=envelope: write_cash_statement(p, DAY, "ACC-1", HOLDINGS, version=v,
                                                                     envelope=e))
        for version, envelope in (("camt.053.001.08", None), ("camt.053.001.02", None),
                                  ("camt.053.001.05", "data_pdu"), ("camt.053.001.13", "app_hdr"))]
PROMETHEUS = written(lambda p: write_dcgm_scrapes(p, DAY, GPUS, 6 * 3600, seed=9))
JSON_LINES = written(lambda p: write_dcgm_json_lines(p, DAY, GPUS, 6 * 3600, seed=9))
DAY_START_MS = 1767571200000  # 2026-01-05T00:00:00Z

# Text that parsers get wrong: numbers too large for any column, other scripts' digits, signs, exponents, dates that
# do not exist, formulas, quotes, escapes, entities, control and invisible characters, a very long field.
HOSTILE_VALUES = (
    "", " ", "-1", "-0", "+5", "0x1F", "1_000", "1e400", "-1e400", "1E-400", "NaN", "nan", "Inf", "-Inf", "infinity",
    "9" * 39, "1" + "0" * 30, "9" * 20 + "." + "9" * 19, "0.0000000000000000001", "18446744073709551616",
    "-9223372036854775809", "9223372036854775807", "2147483648", "\u0661\u0662\u0663", "\uff11\uff12\uff13",
    "2026-02-30", "2026-13-01", "0000-00-00", "9999-12-31", "-2026-01-05", "2026-01-05T25:61:61Z", "01/05/2026",
    "=1+1", "@SUM(A1)", "=cmd|' /C calc'!A0", '"', '""', "'", "\\", "\\n", "\\\"", "}", "{", "<", ">", "&amp;",
    "&#0;", "&lol;", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\ufffd", "\U0001F600", "é" * 7, ";", "=", "|",
    "1=|", "0=1652922000001|", "GPU-", "GPU-zz", "true", "null", "[]", "{}", "A" * 5000,
)
TOKEN = re.compile(rb'[^,;<>\s"{}=|]+')
LINE = re.compile(rb"[^\n]*\n?")


# --- mutations ------------------------------------------------------------------------------------------------------

POSITION = st.integers(min_value=0, max_value=1 << 20)
BYTE_EDITS = st.one_of(
    st.tuples(st.just("flip"), POSITION, st.integers(0, 7)),
    st.tuples(st.just("truncate"), POSITION),
    st.tuples(st.just("insert_bytes"), POSITION, st.binary(min_size=1, max_size=48)),
    st.tuples(st.just("insert_text"), POSITION, st.text(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), POSITION, st.integers(1, 80)),
    st.tuples(st.just("replace_field"), POSITION, st.sampled_from(HOSTILE_VALUES)),
    st.tuples(st.just("replace_field"), POSITION, st.integers(-(1 << 130), 1 << 130).map(str)),
    st.tuples(st.just("repeat_line"), POSITION),
)


def edited(content: bytes, edit: tuple) -> bytes:
    """`content` with one edit applied; a position counts modulo the size of what it points into."""
    kind, position, *rest = edit
    at = position % (len(content) + 1)
    if kind == "flip":
        if not content:
            return content
        at %= len(content)
        return content[:at] + bytes([content[at] ^ (1 << rest[0])]) + content[at + 1:]
    if kind == "truncate":
        return content[:at]
    if kind == "insert_bytes":
        return content[:at] + rest[0] + content[at:]
    if kind == "insert_text":
        return content[:at] + rest[0].encode() + content[at:]
    if kind == "delete":
        return content[:at] + content[at + rest[0]:]
    if kind == "replace_field":
        tokens = list(TOKEN.finditer(content))
        if not tokens:
            return content
        token = tokens[position % len(tokens)]
        return content[:token.start()] + rest[0].encode("utf-8", "surrogatepass") + content[token.end():]
    if kind == "repeat_line":
        lines = [line for line in LINE.findall(content) if line]
        if not lines:
            return content
        line = lines[position % len(lines)]
        return content + (line if line.endswith(b"\n") else b"\n" + line)
    raise AssertionError(kind)


def with_edits(content: bytes, edits: list[tuple]) -> bytes:
    for edit in edits:
        content = edited(content, edit)
    return content


def xml_with_texts(document: bytes, texts: list[tuple[int, str]]) -> bytes:
    """The message with some elements' text replaced (still well-formed, unless a text holds a character XML cannot
    carry): a hostile value where a parser expects a number, a date or a code."""
    body = document.split(b"?>", 1)[1] if document.startswith(b"<?xml") else document
    # the header beside the Document is two top-level elements: edited under one root, written back beside
    root = ElementTree.fromstring(b"<File>" + body + b"</File>")
    elements = [element for element in root.iter() if len(element) == 0]
    for position, text in texts:
        elements[position % len(elements)].text = text
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + b"".join(
        ElementTree.tostring(child, encoding="UTF-8", xml_declaration=False) for child in root)


def workbook_with_cells(workbook: bytes, cells: list[tuple[int, int, object]],
                        merges: list[tuple[int, int, int]] = ()) -> bytes:
    """The workbook with some cells of its tape (title rows 1-3, header row 4, data rows 5-6, totals row 7, 18
    columns) set to hostile values, and some cells merged down (column, first row, rows)."""
    book = openpyxl.load_workbook(io.BytesIO(workbook))
    sheet = book["Loan Tape"]
    for row, column, value in cells:
        try:
            sheet.cell(row=row, column=column, value=value)
        except IllegalCharacterError:  # a control character openpyxl itself refuses to write
            continue
        except AttributeError:  # a cell merged into another (the obligor's name over its loans) takes no value
            continue
    for column, first, rows in merges:  # after the values: a merged cell's others cannot be written
        sheet.merge_cells(start_row=first, start_column=column, end_row=first + rows, end_column=column)
    out = io.BytesIO()
    try:
        book.save(out)
    except AttributeError:  # openpyxl cannot write some datetimes (its own writer's bug): not an input to try
        assume(False)
    return out.getvalue()


def workbook_with_sheet(workbook: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """A sound zip whose worksheet XML is changed: what openpyxl parses lazily, row by row."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            data = source.read(member.filename)
            if member.filename.startswith("xl/worksheets/"):
                data = change(data)
            target.writestr(member, data)
    return out.getvalue()


def with_damaged_member(archive: bytes, name: str) -> bytes:
    """The zip with one byte of a member's compressed data flipped: its directory is sound, its data is not."""
    with zipfile.ZipFile(io.BytesIO(archive)) as source:
        member = source.getinfo(name)
    name_length, extra_length = struct.unpack("<HH", archive[member.header_offset + 26:member.header_offset + 30])
    at = member.header_offset + 30 + name_length + extra_length + member.compress_size // 2
    return archive[:at] + bytes([archive[at] ^ 0x55]) + archive[at + 1:]


CELL_VALUES = st.one_of(
    st.sampled_from(HOSTILE_VALUES),
    st.integers(-(1 << 70), 1 << 70),
    st.floats(allow_nan=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=20).map(float),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
    st.booleans(),
    st.none(),
)


@st.composite
def tape_csv_files(draw) -> bytes:
    tape = draw(st.sampled_from([TAPE_CSV, LENDER_B_CSV, TITLED_TAPE_CSV]))
    return with_edits(tape, draw(st.lists(BYTE_EDITS, min_size=1, max_size=5)))


@st.composite
def tape_workbooks(draw) -> bytes:
    workbook = LENDER_A_XLSX
    cells = draw(st.lists(st.tuples(st.integers(3, 8), st.integers(1, 19), CELL_VALUES), max_size=4))
    merges = draw(st.lists(st.tuples(st.integers(1, 19), st.integers(4, 7), st.integers(1, 2)), max_size=1))
    if cells or merges:
        workbook = workbook_with_cells(workbook, cells, merges)
    sheet_edits = draw(st.lists(BYTE_EDITS, max_size=3))
    if sheet_edits:
        workbook = workbook_with_sheet(workbook, lambda sheet: with_edits(sheet, sheet_edits))
    return with_edits(workbook, draw(st.lists(BYTE_EDITS, max_size=2 if not (cells or sheet_edits) else 1)))


@st.composite
def statement_files(draw) -> bytes:
    document = draw(st.sampled_from([STATEMENT_CSV, *SEMT, *CAMT]))
    if document.startswith(b"<"):
        # mostly well-formed messages with hostile texts, which get past the XML parser to the statement's rules
        texts = draw(st.lists(st.tuples(POSITION, st.one_of(st.sampled_from(HOSTILE_VALUES), st.text(max_size=12))),
                              min_size=1, max_size=4))
        return with_edits(xml_with_texts(document, texts), draw(st.lists(BYTE_EDITS, max_size=2) | st.just([])))
    return with_edits(document, draw(st.lists(BYTE_EDITS, min_size=1, max_size=4)))


LABEL_VALUES = st.one_of(st.sampled_from([GPUS[0].uuid, GPUS[1].uuid, GPUS[0].serial, "node-01"]),
                         st.sampled_from(HOSTILE_VALUES), st.text(max_size=10))


@st.composite
def sample_lines(draw) -> bytes:
    """A Prometheus sample line built from parts, each part sound or hostile."""
    metric = draw(st.one_of(st.sampled_from(["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE",
                                             "DCGM_FI_DEV_XID_ERRORS"]), st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}",
                                                                                       fullmatch=True)))
    labels = draw(st.lists(st.tuples(st.sampled_from(["UUID", "serial", "Hostname", "modelName", "gpu", "x y"]),
                                     LABEL_VALUES), max_size=4))
    block = "{" + ",".join(f'{name}="{value}"' for name, value in labels) + "}" if labels or draw(st.booleans()) else ""
    value = draw(st.one_of(st.sampled_from(HOSTILE_VALUES), st.floats().map(repr), st.integers().map(str)))
    timestamp = draw(st.one_of(st.integers(DAY_START_MS - 1000, DAY_START_MS + 86_400_000).map(str),
                               st.integers().map(str), st.sampled_from(HOSTILE_VALUES), st.just(""),
                               # milliseconds a date cannot hold (after the year 9999, before the year 1)
                               st.sampled_from(["999999999999999", "253402300800000", "-62135596800001"])))
    return f"{metric}{block} {value} {timestamp}\n".encode("utf-8", "surrogatepass")


@st.composite
def json_sample_lines(draw) -> bytes:
    value = draw(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
                           st.none(), st.lists(st.integers(), max_size=2)))
    sample = {"metric": draw(st.sampled_from(["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "other"])),
              "labels": draw(st.one_of(st.dictionaries(st.sampled_from(["UUID", "serial", "Hostname"]), LABEL_VALUES,
                                                       max_size=3), st.text(max_size=5), st.none())),
              "value": value,
              "timestamp_ms": draw(st.one_of(st.integers(DAY_START_MS, DAY_START_MS + 86_399_999), st.integers(),
                                             st.text(max_size=6), st.floats(allow_nan=False)))}
    return (json.dumps(sample, ensure_ascii=draw(st.booleans())) + "\n").encode("utf-8", "surrogatepass")


@st.composite
def telemetry_files(draw) -> bytes:
    base = draw(st.sampled_from([PROMETHEUS, JSON_LINES]))
    extra = b"".join(draw(st.lists(json_sample_lines() if base is JSON_LINES else sample_lines(), max_size=6)))
    # generated lines first too: a file's day is read from its first timestamped sample
    content = extra + base if draw(st.booleans()) else base + extra
    return with_edits(content, draw(st.lists(BYTE_EDITS, max_size=4)))


# A raw scrape of a stock exporter's /metrics: no sample timestamps, no serial, MIG instances of one GPU.
RAW_SCRAPE = "".join(
    f'{metric}{{gpu="{n}",UUID="{gpu.uuid}",device="nvidia{n}",modelName="{gpu.model_name}",hostname="node-01"'
    f'{mig}}} {value}\n'
    for n, gpu in enumerate(GPUS)
    for metric, value in (("DCGM_FI_DEV_GPU_UTIL", 55), ("DCGM_FI_DEV_GPU_TEMP", 61))
    for mig in ("", ',GPU_I_PROFILE="3g.40gb",GPU_I_ID="1"', ',GPU_I_PROFILE="3g.40gb",GPU_I_ID="2"')).encode()


@st.composite
def raw_scrape_files(draw) -> bytes:
    """A raw scrape with sound or hostile sample lines (stamped or not) before or after it, its bytes edited."""
    extra = b"".join(draw(st.lists(sample_lines() | sample_lines().map(lambda line: line.rsplit(b" ", 1)[0] + b"\n"),
                                   max_size=6)))
    content = extra + RAW_SCRAPE if draw(st.booleans()) else RAW_SCRAPE + extra
    return with_edits(content, draw(st.lists(BYTE_EDITS, max_size=4)))


@st.composite
def query_answers(draw) -> bytes:
    """A Prometheus HTTP API answer (matrix or vector) whose labels, times and values are sound or hostile."""
    hostile = st.one_of(st.sampled_from(HOSTILE_VALUES), st.text(max_size=8), st.integers(), st.floats(), st.none())
    times = st.one_of(st.integers(DAY_START_MS // 1000, DAY_START_MS // 1000 + 86_399), hostile)
    series = st.fixed_dictionaries({
        "metric": st.dictionaries(st.sampled_from(["__name__", "UUID", "Hostname", "hostname", "GPU_I_ID", "job"]),
                                  st.one_of(st.sampled_from(["DCGM_FI_DEV_GPU_UTIL", GPUS[0].uuid]), hostile)),
        "values": st.lists(st.lists(st.one_of(times, hostile), min_size=0, max_size=3), max_size=4)})
    kind = draw(st.sampled_from(["matrix", "vector", "scalar", "x"]))
    result = draw(st.lists(series, max_size=4))
    if kind == "vector":
        result = [{"metric": s["metric"], "value": (s["values"] or [[]])[0]} for s in result]
    answer = {"status": draw(st.sampled_from(["success", "error", None])), "data": {"resultType": kind, "result": result}}
    return with_edits(json.dumps(answer, allow_nan=True).encode(), draw(st.lists(BYTE_EDITS, max_size=2)))


# Random bytes behind the first bytes by which intake tells the formats apart, so that each reader gets its share.
MAGIC_PREFIXES = (b"", b"PK\x03\x04", b"<?xml version='1.0' encoding='UTF-8'?>\n<", b"\xef\xbb\xbf",
                  b"# TYPE DCGM_FI_DEV_GPU_UTIL gauge\n", b'{"metric": "DCGM_FI_DEV_GPU_UTIL", "value": 1}\n',
                  TAPE_CSV.split(b"\n", 1)[0] + b"\n", STATEMENT_CSV.split(b"\n", 1)[0] + b"\n", b"\xff\xfe")


@st.composite
def random_files(draw) -> bytes:
    return draw(st.sampled_from(MAGIC_PREFIXES)) + draw(st.binary(max_size=1024))


# --- running one input through intake and ingestion ----------------------------------------------------------------

class FuzzTally:
    """What the fuzzing of this session tried and how each input ended, per target."""

    def __init__(self) -> None:
        self.inputs: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rows: Counter[tuple[str, str]] = Counter()
        self.reasons: Counter[str] = Counter()

    def record(self, target: str, outcome: str) -> None:
        self.inputs[target] += 1
        self.outcomes[(target, outcome)] += 1

    def summary(self) -> dict:
        totals = {outcome: sum(n for (_, o), n in self.outcomes.items() if o == outcome)
                  for outcome in ("unhandled", "accepted", "quarantined")}
        return {
            "inputs_tried": sum(self.inputs.values()),
            **totals,
            "by_target": {target: {"inputs": tried, **{o: n for (t, o), n in self.outcomes.items() if t == target}}
                          for target, tried in sorted(self.inputs.items())},
            "rows": {f"{target}.{kind}": n for (target, kind), n in sorted(self.rows.items())},
            "quarantine_reasons": dict(self.reasons.most_common()),
        }


TALLY = FuzzTally()


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary(request, tmp_path_factory):
    """After the module: the counts as JSON (here, and under BACKED_RELIABILITY_DIR when set), and one line."""
    yield
    summary = TALLY.summary()
    record_bad_inputs("fuzzing", summary["inputs_tried"])
    for target in TALLY.inputs:
        rows_in = TALLY.rows[(target, "in")]
        # every row read was accepted or quarantined: anything else was lost
        Comparisons(f"{request.node.nodeid}::{target}").compared(rows=rows_in, duplicates=0,
                               lost=rows_in - TALLY.rows[(target, "accepted")] - TALLY.rows[(target, "quarantined")])
    paths = [tmp_path_factory.mktemp("reliability") / "fuzz.json"]
    if os.environ.get("BACKED_RELIABILITY_DIR"):
        paths.append(Path(os.environ["BACKED_RELIABILITY_DIR"]) / "reports" / "reliability" / "fuzz.json")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    line = (f"fuzz: {summary['inputs_tried']} inputs tried, {summary['unhandled']} unhandled, "
            f"{summary['accepted']} accepted, {summary['quarantined']} quarantined ({paths[-1]})")
    # pytest captures what a fixture prints: the line goes to the terminal with capturing suspended.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            if reporter.verbosity <= 0:  # after the progress dots, which do not end their line
                reporter.write("\n")
            reporter.write_line(line)


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-homes")


def take_in_and_ingest(homes: Path, target: str, content: bytes, name: str) -> None:
    """Drop `content` in a fresh inbox, take it in and ingest its day; check the accounting of what became of it."""
    home = Path(tempfile.mkdtemp(dir=homes))
    try:
        outcome = _take_in_and_ingest(Lake(home), target, content, name)
    except BaseException:  # a panic in polars' Rust code is not an Exception
        TALLY.record(target, "unhandled")
        raise
    finally:
        shutil.rmtree(home, ignore_errors=True)
    TALLY.record(target, outcome)


def _take_in_and_ingest(lake: Lake, target: str, content: bytes, name: str) -> str:
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / name).write_bytes(content)
    (result,) = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert result.status in (ROUTED, REJECTED)
    if result.status == REJECTED:
        assert result.recognition.problem, result
        rejection = lake.rejected_file_quarantine_path(RECEIVED_AT.date(), name, result.sha256)
        (entry,) = pq.read_table(rejection).to_pylist()
        assert (entry["source_file"], entry["source_row"], entry["reason"]) == (name, 0, result.recognition.problem)
        assert result.archive_path.read_bytes() == content
        TALLY.reasons[result.recognition.problem] += 1
        return "quarantined"
    summaries = INGEST[result.source](result.partition, lake)
    if result.source in ("loan_tapes", "telemetry"):
        join_collateral_telemetry(result.partition, lake)
    (summary,) = [s for s in summaries if s.sha256 == result.sha256]
    assert summary.rows_in == summary.rows_accepted + summary.rows_quarantined
    assert min(summary.rows_accepted, summary.rows_quarantined) >= 0
    quarantined = lake.read_quarantine(result.source, result.partition, name, result.sha256)
    entries = quarantined.to_pylist() if quarantined is not None else []
    assert all(entry["reason"] and entry["source_file"] == name for entry in entries), entries[:3]
    whole_file = any(entry["source_row"] == 0 for entry in entries)
    if whole_file:
        assert summary.rows_accepted == 0
    else:
        assert len({entry["source_row"] for entry in entries}) == summary.rows_quarantined
    if result.source in ROW_TABLES:
        rows = lake.read_table(ROW_TABLES[result.source], result.partition)
        mine = pc.sum(pc.equal(rows.column("source_sha256"), result.sha256)).as_py() or 0
        assert mine == summary.rows_accepted
    TALLY.rows[(target, "in")] += summary.rows_in
    TALLY.rows[(target, "accepted")] += summary.rows_accepted
    TALLY.rows[(target, "quarantined")] += summary.rows_quarantined
    TALLY.reasons.update(summary.reasons)
    return "quarantined" if whole_file or summary.rows_quarantined else "accepted"


# --- the files ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [TAPE_CSV, LENDER_B_CSV, TITLED_TAPE_CSV, LENDER_A_XLSX, STATEMENT_CSV, *SEMT,
                                     *CAMT, PROMETHEUS, JSON_LINES],
                         ids=["tape", "lender-b", "titled-tape", "lender-a", "statement", "semt.11", "semt.09",
                              "semt.05-app-hdr", "semt.03-data-pdu", "camt.08", "camt.02", "camt.05-data-pdu",
                              "camt.13-app-hdr", "prometheus", "json-lines"])
def test_the_files_mutated_are_accepted_whole_as_written(tmp_path, content):
    """The fuzzing starts from files that go through untouched, so what it finds is what a mutation broke."""
    lake = Lake(tmp_path)
    lake.home.inbox.mkdir(parents=True)
    (lake.home.inbox / "file").write_bytes(content)
    (result,) = take_in_inbox(lake, clock=lambda: RECEIVED_AT)
    assert result.status == ROUTED, result.recognition
    (summary,) = INGEST[result.source](result.partition, lake)
    assert summary.rows_in > 0 and summary.rows_quarantined == 0, summary.messages


ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "".join(chr(0x660 + digit) for digit in range(10)))
# Inputs that once raised out of intake or ingestion, or took minutes or gigabytes: tried on every run, whatever
# Hypothesis draws.
FOUND = {
    # a 200 KB field: over the csv module's field limit
    "csv_field_limit": TAPE_CSV.replace(b"Foundry, Inc.", b"A" * 200_000, 1),
    # 200 KB of commas: a hundred thousand columns, each of which became a polars column (20 s, 1.7 GB)
    "csv_wide": b"".join(line + b"," * 100_000 + b"\n" for line in TAPE_CSV.splitlines()),
    # Arabic-Indic digits: a "number" for a Unicode-aware \d, not for a cast
    "tape_unicode_digits": TAPE_CSV.replace(b",400000.00,", f",{'400'.translate(ARABIC_INDIC_DIGITS)},".encode(), 1),
    # an XML declaration naming an encoding expat does not know
    "xml_unknown_encoding": SEMT[0].replace(b"encoding='UTF-8'", b"encoding='UTF-8AAAA'", 1),
    # a statement time that leaves the calendar once in UTC
    "semt_time_after_9999_in_utc": SEMT[0].replace(f"{DAY.isoformat()}T23:59:59Z".encode(),
                                                    b"9999-12-31T23:59:59-01:00"),
    # the custodian's own total, not an amount
    "semt_total_not_an_amount": re.sub(rb"(<TtlHldgsValOfStmt>\s*<Amt Ccy=\"USD\">)[^<]*", rb"\g<1>1e400", SEMT[0]),
    # a first sample stamped in the year 33658; a timestamp in Arabic-Indic digits
    "dcgm_timestamp_after_9999": (f'DCGM_FI_DEV_GPU_UTIL{{UUID="{GPUS[0].uuid}"}} 5 999999999999999\n'.encode()
                                  + PROMETHEUS),
    "dcgm_unicode_digit_timestamp": PROMETHEUS + f'DCGM_FI_DEV_GPU_UTIL{{UUID="{GPUS[0].uuid}"}} 5 '.encode()
                                    + str(DAY_START_MS + 1).translate(ARABIC_INDIC_DIGITS).encode() + b"\n",
    # one more metric family than 16 bits count, each a sound sample
    "dcgm_65537_metric_families": "".join(f'M{n}{{UUID="{GPUS[0].uuid}"}} 1 {DAY_START_MS + n}\n'
                                          for n in range(65_537)).encode(),
    # a line with no value beside one whose value is not a number: neither is a sample, and the batch's rejects
    # come from two different checks
    "dcgm_two_kinds_of_broken_line": b"DCGM_FI_DEV_GPU_UTIL  1767571199000\nDCGM_FI_DEV_GPU_UTIL ; 1",
    # a first line nested deeper than Python's JSON decoder recurses
    "json_nested_deep": b"[" * 100_000 + b"\n" + JSON_LINES,
    # a sheet's deflate stream damaged, read lazily after the workbook loaded
    "xlsx_damaged_sheet": with_damaged_member(LENDER_A_XLSX, "xl/worksheets/sheet1.xml"),
    # 5 KB declaring 16,384 columns by 100,000 rows: hours of padding
    "xlsx_declared_size": workbook_with_sheet(LENDER_A_XLSX, lambda sheet: sheet.replace(
        b'<dimension ref="A1:R5" />', b'<dimension ref="A1:XFD100000" />').replace(
        b"</sheetData>", b'<row r="100000"><c r="A100000" t="inlineStr"><is><t>x</t></is></c></row></sheetData>')),
    # a header 16,384 columns wide above 700 empty rows: more cells than a tape has, refused as they are read
    "xlsx_wide_header": workbook_with_sheet(LENDER_A_XLSX, lambda sheet: re.sub(
        rb'(<row r="3">.*?)</row>', rb'\1<c r="XFD3" t="inlineStr"><is><t>wide</t></is></c></row>', sheet, count=1
    ).replace(b"</sheetData>", b"".join(b'<row r="%d" />' % number for number in range(6, 706)) + b"</sheetData>"
              ).replace(b'<dimension ref="A1:R5" />', b'<dimension ref="A1:XFD705" />')),
}


@fuzz_settings(max_examples=80)
@given(content=tape_csv_files())
@example(content=FOUND["csv_field_limit"])
@example(content=FOUND["tape_unicode_digits"])
@example(content=FOUND["csv_wide"])
def test_loan_tape_csv(homes, content):
    take_in_and_ingest(homes, "loan_tape_csv", content, "tape.csv")


# openpyxl warns of each hostile date cell it turns into an error value
@pytest.mark.filterwarnings("ignore:Cell .* is marked as a date:UserWarning")
@fuzz_settings(max_examples=50)
@given(content=tape_workbooks())
@example(content=FOUND["xlsx_damaged_sheet"])
@example(content=FOUND["xlsx_declared_size"])
@example(content=FOUND["xlsx_wide_header"])
def test_loan_tape_xlsx(homes, content):
    take_in_and_ingest(homes, "loan_tape_xlsx", content, "tape.xlsx")


@fuzz_settings(max_examples=80)
@given(content=statement_files())
@example(content=FOUND["xml_unknown_encoding"])
@example(content=FOUND["semt_total_not_an_amount"])
@example(content=FOUND["semt_time_after_9999_in_utc"])
def test_custodian_statements(homes, content):
    take_in_and_ingest(homes, "custodian", content, "statement")


@fuzz_settings(max_examples=80)
@given(content=telemetry_files())
@example(content=FOUND["dcgm_timestamp_after_9999"])
@example(content=FOUND["dcgm_unicode_digit_timestamp"])
@example(content=FOUND["json_nested_deep"])
@example(content=FOUND["dcgm_65537_metric_families"])
@example(content=FOUND["dcgm_two_kinds_of_broken_line"])
def test_dcgm_telemetry(homes, content):
    take_in_and_ingest(homes, "telemetry", content, "dcgm-2026-01-05.prom")


@fuzz_settings(max_examples=40)
@given(content=query_answers())
def test_prometheus_query_answer(homes, content):
    take_in_and_ingest(homes, "telemetry", content, "history.json")


@fuzz_settings(max_examples=40)
@given(content=raw_scrape_files())
def test_dcgm_raw_scrape(homes, content):
    take_in_and_ingest(homes, "telemetry", content, "dcgm-20260105T120000Z.prom")


@fuzz_settings(max_examples=60)
@given(content=random_files())
def test_random_bytes(homes, content):
    take_in_and_ingest(homes, "random_bytes", content, "dropped")


# --- the chain log decoder -----------------------------------------------------------------------------------------

SPECS = sorted(REGISTRY.values(), key=lambda spec: (spec.topic0, spec.indexed_count))
HEADER = BlockHeader(number=7, hash="0x" + "b7" * 32, timestamp=1767600000, parent_hash="0x" + "b6" * 32)
ENVELOPE = {"address": "0x" + "0a" * 20, "blockNumber": hex(HEADER.number), "blockHash": HEADER.hash,
            "transactionHash": "0x" + "7e" * 32, "logIndex": "0x3", "removed": False}
WORDS = st.one_of(
    st.integers(0, (1 << 256) - 1).map(lambda value: f"{value:064x}"),
    st.integers(0, (1 << 160) - 1).map(lambda value: f"{value:064x}"),  # an address, zero-padded
    st.integers(0, 1 << 130).map(lambda value: f"{value:064x}"),  # around DECIMAL(38,0)'s limit
    st.sampled_from(["0" * 64, "0" * 63 + "1", "0" * 63 + "2", "f" * 64]),
)
HEX_TEXT = st.one_of(
    WORDS.map(lambda word: "0x" + word),
    st.binary(max_size=80).map(lambda raw: "0x" + raw.hex()),
    st.text(alphabet="0123456789abcdefABCDEFxX", max_size=70),
    st.sampled_from(["", "0x", "0x0", "0X" + "ab" * 32, "ab" * 32, "0x" + "zz" * 32, "0x" + "AB" * 32]),
)


ELEMENTARY_VALUES = {
    "address": st.binary(min_size=20, max_size=20).map(lambda raw: "0x" + raw.hex()),
    "uint256": st.integers(0, (1 << 256) - 1) | st.integers(0, 10**38) | st.integers(0, 10**24),
    "uint8": st.integers(0, 255),
    "bool": st.booleans(),
    "bytes32": st.binary(min_size=32, max_size=32),
    "bytes": st.binary(max_size=100),
    "string": st.text(max_size=40),
}


def abi_values(abi_type: str):
    """Values of any type the registry declares: arrays and tuples of the elementary ones, integers and fixed
    bytes of every width."""
    if abi_type.endswith("]"):
        return st.lists(abi_values(abi_type[:abi_type.rindex("[")]), max_size=3)
    if abi_type.startswith("("):
        return st.tuples(*(abi_values(part) for part in abi_type[1:-1].split(",")))
    if abi_type in ELEMENTARY_VALUES:
        return ELEMENTARY_VALUES[abi_type]
    if abi_type.startswith("uint"):
        return st.integers(0, (1 << int(abi_type[4:])) - 1)
    return st.binary(min_size=int(abi_type[5:]), max_size=int(abi_type[5:]))  # bytes1..bytes31


@st.composite
def fitting_logs(draw) -> dict:
    """A log of a registered event with arguments of the right types, as a contract emits it."""
    spec = draw(st.sampled_from(SPECS))
    values = {event_input.name: draw(abi_values(event_input.abi_type)) for event_input in spec.inputs}
    # an indexed string, bytes, array or tuple is in its topic as a keccak: any 32 bytes
    topics = [spec.topic0, *("0x" + (draw(st.binary(min_size=32, max_size=32)) if event_input.hashed_in_topic
                                     else abi_encode([event_input.abi_type], [values[event_input.name]])).hex()
                             for event_input in spec.inputs if event_input.indexed)]
    unindexed = [event_input for event_input in spec.inputs if not event_input.indexed]
    data = "0x" + abi_encode([i.abi_type for i in unindexed], [values[i.name] for i in unindexed]).hex()
    return {**ENVELOPE, "topics": topics, "data": data}


@st.composite
def misfit_logs(draw) -> dict:
    """Topics and data that nearly fit a registered event (a word short or long, padding not zero, a bool of 2,
    a topic of another length, upper-case hex, an ABI offset anywhere) or are noise."""
    spec = draw(st.sampled_from(SPECS))
    topic0 = draw(st.one_of(st.just(spec.topic0), st.just(spec.topic0.upper().replace("0X", "0x")), HEX_TEXT))
    indexed = draw(st.integers(0, 4) | st.just(spec.indexed_count))
    topics = [topic0, *("0x" + draw(WORDS) if draw(st.integers(0, 9)) else draw(HEX_TEXT) for _ in range(indexed))]
    unindexed = len(spec.inputs) - spec.indexed_count
    words = draw(st.lists(WORDS, min_size=max(0, unindexed - 1), max_size=unindexed + 1) | st.lists(WORDS, max_size=6))
    data = draw(st.just("0x" + "".join(words)) | HEX_TEXT)
    if spec.word_plan is None and draw(st.booleans()):
        # `bytes` arguments: an ABI head pointing at a length and a tail of any size
        offset = draw(st.integers(0, 256) | st.integers(0, (1 << 256) - 1))
        data = f"0x{offset:064x}{data[2:]}"
    return {**ENVELOPE, "topics": topics, "data": data}


raw_logs = st.one_of(fitting_logs(), misfit_logs(), fitting_logs().flatmap(
    lambda log: st.tuples(st.just(log), st.lists(BYTE_EDITS, min_size=1, max_size=2)).map(
        lambda pair: {**pair[0], "data": with_edits(pair[0]["data"].encode(), pair[1]).decode("utf-8", "replace")})))


@fuzz_settings(max_examples=800)
@given(raw_log=raw_logs)
def test_chain_log_decoder(raw_log):
    try:
        decoded = decode_log(raw_log)
        if decoded is None:
            # the ingester keeps the log raw, as it came
            assert _table("chain_logs_unknown", [_unknown_log_row(raw_log, HEADER, None)]).num_rows == 1
            outcome = "quarantined"
        else:
            assert isinstance(decoded, DecodedLog)
            assert (decoded.event.topic0, decoded.event.indexed_count) == (
                "0x" + raw_log["topics"][0].lower().removeprefix("0x"), len(raw_log["topics"]) - 1)
            try:
                row = _event_row(decoded, HEADER, None)
            except RawAmountOutOfRange as refused:
                assert raw_log["transactionHash"] in str(refused)
                outcome = "quarantined"
            else:
                assert _table("chain_events", [row]).num_rows == 1
                outcome = "accepted"
    except BaseException:
        TALLY.record("chain_log_decoder", "unhandled")
        raise
    TALLY.record("chain_log_decoder", outcome)
