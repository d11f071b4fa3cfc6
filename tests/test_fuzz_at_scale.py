"""Fuzzing at scale: a hundred thousand generated inputs across every parser in minutes, each one checked as intake
and ingestion check it, without the lake's Parquet.

tests/test_fuzz_parsers.py takes each input through a fresh inbox, intake and a day's ingestion with its Parquet
writes: thorough, and a few inputs a second. Here each input is a file written to a folder in memory and handed to
what turns its bytes into rows: intake's own `recognise` (the sources' recognisers, assets/sources.py; a file of
several ISO 20022 Documents separated as intake separates it, a raw scrape without a time renamed as `backed ingest
--scraped-at` renames it), then the source's validation of one file (`_validate` of the loan tapes, the custodian
statements and the DCGM scrapes, `inventory.validate` of an nvidia-smi inventory), then the rows the ingester would
write, cast to the lake's schemas in memory. The property, per input:
- it is refused whole with a reason (a recognition problem, or an unreadable document quarantined on row 0 with
  nothing accepted), or its rows are split: rows in = rows accepted + rows quarantined, no row both, none twice,
  every quarantine entry naming the file and a reason, the entries and the accepted rows fitting their schemas;
- nothing raises out of recognition or validation (a Rust panic in polars included);
- the DCGM text format is read twice, in bulk (the default) and line by line (the reading the bulk one replaced),
  in one batch or in two or three whose ends cut lines anywhere: the same rows in, rows quarantined, quarantine
  entries and per-GPU figures.
The chain log decoder gets eth_getLogs answers of logs that fit a registered event, nearly fit it or are noise; the
column-wise decoder (`event_rows.decode_logs`) must give exactly the rows and unknown logs of the per-log reference
(`registry.decode_log` + `event_rows.event_row`), or fail as it fails: the one exception either may raise is the
documented `RawAmountOutOfRange` (an amount that does not fit DECIMAL(38,0) stops the day, naming the log).

Inputs are the sandbox's good files (as tests/test_fuzz_parsers.py writes them) and the real shapes of
tests/test_dcgm_real_shapes.py, tests/test_loan_tape_real_shapes.py, tests/test_iso20022_envelopes.py and
tests/test_iso20022_versions.py, broken by mutations drawn from `random.Random("<parser>:<number>")`: input n of a
parser is the same bytes on every run, and `fuzz_input(parser, n)` rebuilds it. BACKED_FUZZ_INPUTS is the number of
inputs of the whole module (default 500, a derandomised run for `make test`), shared among the parsers by their
cost; a failing input is written to the test's temporary folder. The counts go to the reliability tally ("fuzz at
scale: <parser>") and to `fuzz-at-scale.json` (the session's temporary folder, and $BACKED_RELIABILITY_DIR/reports/
reliability/ when that is set).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import random
import re
import shutil
import struct
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape as xml_escaped

import polars as pl
import pyarrow as pa
import pytest
from eth_abi import encode as abi_encode

from assets.chain.event_rows import decode_logs, event_row, lake_table
from assets.chain.registry import REGISTRY, decode_log
from assets.custodian import statements
from assets.inbox.counterparties import COUNTERPARTIES_FILE
from assets.inbox.document_tables import UnreadableFile
from assets.inbox.intake import named_with_scrape_time, recognise
from assets.inbox.manifest import FileIngestSummary
from assets.inbox.register import InboxFile, Recognition
from assets.inbox.row_validation import (
    SOURCE_ROW,
    DocumentPlace,
    RowSplit,
    quarantine_messages,
    reason_counts,
    split_or_rejected,
)
from assets.loan_tapes import tape
from assets.source import NO_SCRAPE_TIME, SEVERAL_DOCUMENTS
from assets.sources import file_recognisers
from assets.telemetry import inventory, scrapes
from foundation.lake import QUARANTINE_SCHEMA, SCHEMAS, Lake, _conform, _with_partition_date
from foundation.money import RawAmountOutOfRange
from reliability import Comparisons, record_bad_inputs
from sandbox.file_drops import _reproducible_workbook as reproducible_workbook
from sandbox.file_drops import write_cash_statement, write_holdings_statement

import test_dcgm_real_shapes as dcgm_shapes
import test_fuzz_parsers as sandbox_files
import test_iso20022_envelopes as envelopes
import test_iso20022_versions as versions
import test_loan_tape_real_shapes as tape_shapes
import test_telemetry_bulk_parse as bulk_parse

DAY = sandbox_files.DAY
RECEIVED_AT = sandbox_files.RECEIVED_AT  # intake's clock: a file dated after its day is refused as intake refuses it
SCRAPED_AT = datetime(2026, 1, 5, 12, 0)  # what `backed ingest --scraped-at` tells of a raw scrape named without one
DAY_START_MS = sandbox_files.DAY_START_MS
DAY_MS = 86_400_000

INPUTS = int(os.environ.get("BACKED_FUZZ_INPUTS", "500"))
# No input grows past this: the parsers' own limits (MAX_DOCUMENT_BYTES) are tested elsewhere, with files built to
# reach them; here the inputs are many and small.
MAX_INPUT_BYTES = 1 << 20
# Every input read as one batch, as the ingest reads any file under its BATCH_BYTES (32 MiB): a batch's buffer is
# allocated whole, and 32 MiB for each of a hundred thousand small files is most of their time.
WHOLE_FILE_BATCH = MAX_INPUT_BYTES + 1
# An input that takes longer than this is a finding too: a file that holds a parser for minutes holds the day.
SLOW_INPUT_SECONDS = 30.0
# The failures one parser's run lists before it stops: enough to tell one bug from several.
MAX_FAILURES = 5


# --- hostile text ---------------------------------------------------------------------------------------------------

# The first digit of other scripts' decimal digits (a Unicode-aware \d or int() reads them; a cast may not):
# Arabic-Indic, Extended Arabic-Indic, Devanagari, Bengali, Thai, Myanmar, fullwidth, mathematical bold.
_DIGIT_ZEROS = (0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1040, 0xFF10, 0x1D7CE)
_FORMULAS = ("=1+1", "=HYPERLINK(\"http://x\",\"y\")", "+1", "-1+2", "@SUM(A1:A2)", "=cmd|' /C calc'!A0", "=A1")
_QUOTES = ('"', "'", '""', '"a', 'a"b', '"""', "\\\"", "\\", "'; --")
_INVISIBLE = ("\u202e", "\ufeff", "\u200b", "\u00a0", "\u2028", "\u0085", "\ufffd", "\x7f", "\x1b[31m", "\ud800")
_ODD_DATES = ("2026-02-30", "2026-13-01", "0000-00-00", "0001-01-01", "9999-12-31", "05/01/2026", "13/01/2026",
              "1-Dec-2025", "December 1, 2025", "46027", "46027.5", "-1", "2026-01-05T24:00:00Z",
              "2026-01-05T23:59:60Z", "2026-01-05T23:59:59+01:00", "2026-01-05 23:59:59", "20260105")
_ODD_NUMBERS = ("NaN", "nan", "-nan", "Inf", "-Inf", "+Inf", "infinity", "1e309", "-1e309", "1E+5", "4e-324", "-0",
                "-0.0", "0x1F", "1_000", "1,000", "1.000,50", "(1,000.00)", "$1,250,000.00", "USD 1,000.00",
                "7.5%", "120%", "%", "0.125", ".5", "5.", "+5", "--5", "1e", "e1", "0" * 40)


def hostile_text(rng: random.Random) -> str:
    """A value parsers get wrong: numbers too large or negative, NaN, other scripts' digits, formulas, lone quotes,
    NUL and control bytes, invisible characters, dates that do not exist, very long text."""
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice(sandbox_files.HOSTILE_VALUES)
    if kind == 1:
        value = rng.getrandbits(rng.choice((31, 32, 63, 64, 65, 127, 128, 130, 256, 1024)))
        return str(-value if rng.random() < 0.3 else value)
    if kind == 2:
        whole, fraction = rng.getrandbits(rng.choice((8, 40, 70, 90))), rng.getrandbits(rng.choice((4, 60, 70)))
        return f"{'-' if rng.random() < 0.3 else ''}{whole}.{fraction}"
    if kind == 3:
        zero = rng.choice(_DIGIT_ZEROS)
        digits = str(rng.choice((400000, 1767571200000, 2026, 5, 750, rng.getrandbits(40))))
        text = "".join(chr(zero + int(d)) if rng.random() < 0.7 else d for d in digits)
        return text + rng.choice(("", ".00", ".5"))
    if kind == 4:
        return rng.choice(_ODD_NUMBERS)
    if kind == 5:
        return rng.choice(_FORMULAS)
    if kind == 6:
        return rng.choice(_QUOTES)
    if kind == 7:
        return "".join(rng.choice(("\x00", "\r", "\n", "\t", "\x0b", "\x0c", "\x01")) for _ in range(rng.randint(1, 3)))
    if kind == 8:
        return rng.choice("9A\u00e9,\"") * rng.choice((300, 5_000, 70_000, 140_000))
    if kind == 9:
        mark = rng.choice(_INVISIBLE)
        return rng.choice((mark, mark + "1000", "1" + mark + "000", "GPU-" + mark))
    if kind == 10:
        return rng.choice(_ODD_DATES)
    return "".join(chr(rng.choice((rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff), rng.randint(0x10000, 0x1ffff))))
                   for _ in range(rng.randint(1, 12)))


def encoded(text: str) -> bytes:
    """UTF-8, a lone surrogate as the bytes it would be (not UTF-8: what a broken writer leaves)."""
    return text.encode("utf-8", "surrogatepass")


# --- byte edits -----------------------------------------------------------------------------------------------------

def _position(rng: random.Random, data: bytes) -> int:
    # a third of edits near the start, where the header and the format's signature are
    return rng.randint(0, min(len(data), 256)) if rng.random() < 0.3 else rng.randint(0, len(data))


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def flip_bits(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        at = rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def insert_bytes(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data)
    return data[:at] + rng.randbytes(rng.randint(1, 48)) + data[at:]


def insert_text(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data)
    return data[:at] + encoded(hostile_text(rng)) + data[at:]


def delete_span(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data)
    return data[:at] + data[at + rng.randint(1, 120):]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[:rng.randint(0, len(data))]


def duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    at = rng.randrange(len(lines))
    lines.insert(rng.randint(0, len(lines)), lines[at])
    return b"\n".join(lines)


def remove_line(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    del lines[rng.randrange(len(lines))]
    return b"\n".join(lines)


def swap_lines(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    first, second = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[first], lines[second] = lines[second], lines[first]
    return b"\n".join(lines)


_TOKEN = re.compile(rb'[^,;<>\s"{}=|:]+')


def replace_token(rng: random.Random, data: bytes) -> bytes:
    """A field (a run of bytes between separators) replaced by a hostile value."""
    tokens = [match.span() for match in _TOKEN.finditer(data, 0, 200_000)]
    if not tokens:
        return data
    start, end = rng.choice(tokens)
    return data[:start] + encoded(hostile_text(rng)) + data[end:]


def repeat_span(rng: random.Random, data: bytes) -> bytes:
    at = _position(rng, data)
    span = data[at:at + rng.randint(1, 400)]
    return data[:at] + span * rng.choice((2, 3, 50)) + data[at:]


def line_endings(rng: random.Random, data: bytes) -> bytes:
    return data.replace(b"\n", rng.choice((b"\r\n", b"\r", b"\n\n", b"\r\r\n")))


def prefix_mark(rng: random.Random, data: bytes) -> bytes:
    return rng.choice((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00", b"\n\n", b"   ", b"\xef\xbb\xbf" * 2)) + data


BYTE_EDITS: tuple[Callable[[random.Random, bytes], bytes], ...] = (
    flip_bits, flip_bits, insert_bytes, insert_text, insert_text, delete_span, truncate, duplicate_line, remove_line,
    swap_lines, replace_token, replace_token, replace_token, repeat_span, line_endings, prefix_mark,
)


# --- the formats' own edits -----------------------------------------------------------------------------------------

def csv_cell(rng: random.Random, data: bytes) -> bytes:
    """One cell of a row (the header's too) replaced, quoted or not; a cell added or removed; a row copied with one
    cell changed (the same loan twice with different values); two rows swapped."""
    lines = _lines(data)
    rows = [index for index, line in enumerate(lines) if line.strip()]
    if not rows:
        return data
    index = rng.choice(rows)
    cells = lines[index].split(b",")  # a comma inside quotes splits too: a field shifted is a mutation as well
    at = rng.randrange(len(cells))
    kind = rng.randrange(6)
    value = encoded(hostile_text(rng))
    if rng.random() < 0.5:
        value = b'"' + value.replace(b'"', b'""') + b'"'
    if kind <= 2:
        cells[at] = value
    elif kind == 3:
        cells.insert(at, value if rng.random() < 0.5 else b"")
    elif kind == 4:
        del cells[at]
    else:
        copy = list(cells)
        copy[at] = value
        lines.insert(index + 1, b",".join(copy))
    lines[index] = b",".join(cells)
    return b"\n".join(lines)


def csv_header(rng: random.Random, data: bytes) -> bytes:
    """The header's names changed as people change them: case, blanks, a name repeated, one dropped, the order."""
    lines = _lines(data)
    index = next((i for i, line in enumerate(lines) if line.count(b",") >= 3), 0)
    names = lines[index].split(b",")
    at = rng.randrange(len(names))
    kind = rng.randrange(5)
    if kind == 0:
        names[at] = names[at].upper() if rng.random() < 0.5 else b"  " + names[at] + b" "
    elif kind == 1:
        names.insert(rng.randint(0, len(names)), names[at])
    elif kind == 2:
        del names[at]
    elif kind == 3:
        rng.shuffle(names)
    else:
        names[at] = encoded(hostile_text(rng))[:40]
    lines[index] = b",".join(names)
    return b"\n".join(lines)


_XML_TEXT = re.compile(rb">([^<>]*[^<>\s][^<>]*)<")
_XML_LEAF = re.compile(rb"<([A-Za-z][\w.:-]*)(?:\s[^<>]*)?>[^<>]*</\1>")
_XML_ATTRIBUTE = re.compile(rb'\s([A-Za-z][\w:]*)="([^"]*)"')
_MESSAGE_VERSION = re.compile(rb"(semt\.002|camt\.053)\.001\.[0-9]{2}")


def xml_text(rng: random.Random, data: bytes) -> bytes:
    """An element's text replaced: escaped (still well-formed, so the statement's rules see it) or not."""
    spans = [match.span(1) for match in _XML_TEXT.finditer(data)]
    if not spans:
        return data
    start, end = rng.choice(spans)
    text = hostile_text(rng)
    return data[:start] + encoded(xml_escaped(text) if rng.random() < 0.85 else text) + data[end:]


def xml_element(rng: random.Random, data: bytes) -> bytes:
    """A leaf element removed, repeated, or emptied."""
    leaves = [match.span() for match in _XML_LEAF.finditer(data)]
    if not leaves:
        return data
    start, end = rng.choice(leaves)
    kind = rng.randrange(3)
    if kind == 0:
        return data[:start] + data[end:]
    if kind == 1:
        return data[:end] + data[start:end] * rng.choice((1, 2)) + data[end:]
    element = data[start:end]
    return data[:start] + element[:element.index(b">") + 1] + element[element.rindex(b"<"):] + data[end:]


def xml_attribute(rng: random.Random, data: bytes) -> bytes:
    spans = [match.span(2) for match in _XML_ATTRIBUTE.finditer(data)]
    if not spans:
        return data
    start, end = rng.choice(spans)
    return data[:start] + encoded(xml_escaped(hostile_text(rng), {'"': "&quot;"})) + data[end:]


def xml_message(rng: random.Random, data: bytes) -> bytes:
    """The message's version, its declaration or its envelope changed: another version (read or not), another
    message, a declared encoding, a DTD (never read), the Document twice (a page repeated)."""
    kind = rng.randrange(5)
    if kind == 0:
        version = f"{rng.choice(('semt.002', 'camt.053', 'semt.003', 'camt.052'))}.001.{rng.randint(0, 15):02d}"
        return _MESSAGE_VERSION.sub(version.encode(), data, count=rng.choice((0, 1)))
    if kind == 1:
        declared = rng.choice((b"ISO-8859-1", b"windows-1252", b"UTF-16", b"ascii", b"UTF-8AAAA", b"utf8", b"EBCDIC"))
        return re.sub(rb"""encoding=["'][^"']*["']""", b'encoding="' + declared + b'"', data, count=1)
    if kind == 2:
        body = data.split(b"?>", 1)[-1]
        dtd = rng.choice((b'<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>',
                          b'<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>', b"<!DOCTYPE d>"))
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + dtd + body
    body = data.split(b"?>", 1)[-1].strip()
    start = body.find(b"<Document")
    end = body.rfind(b"</Document>")
    if start < 0 or end < 0:
        return data
    document = body[start:end + len(b"</Document>")]
    if kind == 3:
        return data.replace(document, document * 2, 1)
    # another day's page of the statement beside it: different statement dates, separated by intake
    other = document.replace(b"2026-01-05", b"2026-01-04").replace(b"<PgNb>1</PgNb>", b"<PgNb>2</PgNb>")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n<BizMsgs>' + document + other + b"</BizMsgs>\n"


_SHEET = re.compile(rb"xl/worksheets/sheet[0-9]+\.xml")
_CELL_VALUE = re.compile(rb"<v>([^<]*)</v>")
_CELL_TEXT = re.compile(rb"<t(?:\s[^>]*)?>([^<]*)</t>")
_CELL_TYPE = re.compile(rb'(<c [^>]*?)t="[a-zA-Z]+"')
_CELL_REF = re.compile(rb'<c r="([A-Z]+)([0-9]+)"')


def zip_members(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(member, archive.read(member.filename)) for member in archive.infolist()]


def zipped(members: list[tuple[zipfile.ZipInfo, bytes]]) -> bytes:
    """The members zipped again, each entry stamped with one fixed time: the same input on every run."""
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a member written twice is one of the mutations
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for member, content in members:
                entry = zipfile.ZipInfo(member.filename, date_time=(2026, 1, 5, 0, 0, 0))
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, content)
    return out.getvalue()


def _worksheet_xml(rng: random.Random, xml: bytes) -> bytes:
    """A worksheet's cells as a spreadsheet program might have left them: a number or a text replaced, a cell's type
    changed, a cell moved, a merge over rows, a declared size far beyond the cells."""
    kind = rng.randrange(7)
    if kind == 0:
        spans = [match.span(1) for match in _CELL_VALUE.finditer(xml)]
        if spans:
            start, end = rng.choice(spans)
            value = rng.choice((hostile_text(rng), str(rng.uniform(-1e20, 1e20)), repr(rng.random() / 3),
                                str(rng.randint(-100, 3_000_000)), "1e308", "0.1", "46027.999"))
            return xml[:start] + encoded(xml_escaped(value)) + xml[end:]
    if kind == 1:
        spans = [match.span(1) for match in _CELL_TEXT.finditer(xml)]
        if spans:
            start, end = rng.choice(spans)
            return xml[:start] + encoded(xml_escaped(hostile_text(rng))) + xml[end:]
    if kind == 2:
        cells = list(_CELL_TYPE.finditer(xml))
        if cells:
            match = rng.choice(cells)
            kind_text = rng.choice((b"s", b"n", b"e", b"b", b"d", b"str", b"inlineStr", b"x"))
            return xml[:match.start()] + match.group(1) + b't="' + kind_text + b'"' + xml[match.end():]
    if kind == 3:
        refs = list(_CELL_REF.finditer(xml))
        if refs:
            match = rng.choice(refs)
            column = rng.choice((match.group(1), b"A", b"XFD", b"ZZZZ", b"a"))
            row = rng.choice((match.group(2), b"0", b"1", b"1048576", b"1048577", b"99999999999"))
            return xml[:match.start()] + b'<c r="' + column + row + b'"' + xml[match.end():]
    if kind == 4:
        column = rng.choice((b"A", b"F", b"I", b"R", b"S", b"XFD"))
        first, last = rng.randint(1, 8), rng.randint(1, 12)
        merge = b'<mergeCells count="1"><mergeCell ref="%s%d:%s%d"/></mergeCells>' % (column, first, column, last)
        if b"<mergeCells" in xml:
            return xml.replace(b"</mergeCells>", merge[merge.index(b"<mergeCell ref"):merge.index(b"</mergeCells>")]
                               + b"</mergeCells>", 1)
        return xml.replace(b"</sheetData>", b"</sheetData>" + merge, 1)
    if kind == 5:
        size = rng.choice((b"A1:XFD1048576", b"A1:R5", b"A1", b"", b"ZZ9:A1", b"A1:B999999999"))
        return re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="' + size + b'"', xml, count=1)
    return rng.choice(BYTE_EDITS)(rng, xml)


def xlsx_member(rng: random.Random, data: bytes) -> bytes:
    """One part of the workbook changed inside a sound zip: a worksheet's cells (read lazily, row by row), the
    workbook's sheet list or date system, the styles' number formats, or any part's bytes; a part removed or
    written twice."""
    try:
        members = zip_members(data)
    except Exception:  # an earlier edit damaged the zip (zlib, struct, bad headers): its bytes are edited instead
        return flip_bits(rng, data)
    sheets = [index for index, (member, _) in enumerate(members) if _SHEET.fullmatch(member.filename.encode())]
    index = rng.choice(sheets) if sheets and rng.random() < 0.6 else rng.randrange(len(members))
    member, content = members[index]
    kind = rng.randrange(10)
    if kind < 6 and index in sheets:
        content = _worksheet_xml(rng, content)
    elif kind == 6 and member.filename == "xl/workbook.xml":
        content = content.replace(b"<workbookPr", b'<workbookPr date1904="1"', 1) if rng.random() < 0.5 else (
            re.sub(rb'name="[^"]*"', b'name="' + encoded(xml_escaped(hostile_text(rng)[:31], {'"': "&quot;"})) + b'"',
                   content, count=1))
    elif kind == 6 and member.filename == "xl/styles.xml":
        content = re.sub(rb'formatCode="[^"]*"', b'formatCode="' + rng.choice(
            (b"0.00%", b'"%"0', b"yyyy-mm-dd", b"General", b"[$-409]d-mmm-yy", b"0%;-0%")) + b'"', content, count=1)
    elif kind == 7:
        del members[index]
        return zipped(members)
    elif kind == 8:
        members.insert(rng.randint(0, len(members)), (member, rng.choice(BYTE_EDITS)(rng, content)))
        return zipped(members)
    else:
        content = rng.choice(BYTE_EDITS)(rng, content)
    members[index] = (member, content)
    return zipped(members)


def xlsx_container(rng: random.Random, data: bytes) -> bytes:
    """The zip container itself damaged: a member's compressed data, its local header or the central directory."""
    try:
        members = zip_members(data)
    except Exception:  # an earlier edit damaged the zip (zlib, struct, bad headers): its bytes are edited instead
        return flip_bits(rng, data)
    member, _ = rng.choice(members)
    name_length, extra_length = struct.unpack("<HH", data[member.header_offset + 26:member.header_offset + 30])
    start = member.header_offset + 30 + name_length + extra_length
    kind = rng.randrange(3)
    if kind == 0 and member.compress_size:
        at = start + rng.randrange(member.compress_size)
    elif kind == 1:
        at = member.header_offset + rng.randrange(30)
    else:
        at = len(data) - 1 - rng.randrange(min(len(data), 200))
    return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1:]


def _wrong_type(rng: random.Random):
    return rng.choice((
        None, True, False, 0, -1, 10**40, -(10**40), 1e308, float("nan"), float("inf"), 2.5, "", "NaN", "+Inf",
        hostile_text(rng), [], {}, [1, 2], {"a": 1}, ["1767571200", "5"], [[[[1]]]],
        str(DAY_START_MS // 1000 + rng.randint(-100_000, 200_000)), DAY_START_MS // 1000 + rng.random() * 86_400,
    ))


def _json_slots(value, slots: list, depth: int = 0) -> None:
    """Every (container, key) of a JSON document, containers first, not deeper than a sample nests."""
    if depth > 8 or len(slots) > 2_000:
        return
    if isinstance(value, dict):
        for key in value:
            slots.append((value, key))
            _json_slots(value[key], slots, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            slots.append((value, index))
            _json_slots(item, slots, depth + 1)


def json_changed(rng: random.Random, document) -> None:
    """A value of the document replaced by one of another type, a key removed or renamed, a value nested deep."""
    slots: list = []
    _json_slots(document, slots)
    if not slots:
        return
    # mostly a leaf (a label, a time, a value): the document's structure changed is refused whole, every time
    leaves = [(container, key) for container, key in slots if not isinstance(container[key], (dict, list))]
    container, key = rng.choice(leaves if leaves and rng.random() < 0.8 else slots)
    kind = rng.randrange(6)
    if kind <= 2:
        container[key] = _wrong_type(rng)
    elif kind == 3 and isinstance(container, dict):
        del container[key]
    elif kind == 4 and isinstance(container, dict):
        container[rng.choice((key.upper(), key.lower(), key + " ", "", hostile_text(rng)[:20]))] = container.pop(key)
    else:
        nested = container[key]
        for _ in range(rng.choice((2, 50, 2_000))):
            nested = [nested]
        container[key] = nested


def _json_text(rng: random.Random, document) -> bytes:
    try:
        text = json.dumps(document, ensure_ascii=rng.random() < 0.5, allow_nan=True,
                          indent=rng.choice((None, None, 2)))
    except (RecursionError, ValueError):
        return b"[]"
    return encoded(text)


def json_lines_value(rng: random.Random, data: bytes) -> bytes:
    lines = _lines(data)
    indexes = [i for i, line in enumerate(lines) if line.strip()]
    if not indexes:
        return data
    index = rng.choice(indexes)
    try:
        sample = json.loads(lines[index])
    except ValueError:
        return replace_token(rng, data)
    json_changed(rng, sample)
    lines[index] = _json_text(rng, sample).replace(b"\n", b" ")
    return b"\n".join(lines)


def json_document_value(rng: random.Random, data: bytes) -> bytes:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return replace_token(rng, data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        json_changed(rng, document)
    return _json_text(rng, document)


_LABEL_PAIR = re.compile(rb'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_GPU_UUIDS = (sandbox_files.GPUS[0].uuid, sandbox_files.GPUS[1].uuid, dcgm_shapes.H100, dcgm_shapes.A100)
_FAMILIES = ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_XID_ERRORS")


def _timestamp_text(rng: random.Random) -> bytes:
    return rng.choice((
        str(DAY_START_MS + rng.randrange(DAY_MS)), str(DAY_START_MS - 1), str(DAY_START_MS + DAY_MS),
        str(DAY_START_MS + DAY_MS - 1), "0", "-1", "999999999999999", "9999999999999999", "253402300800000",
        "-62135596800001", str(DAY_START_MS // 1000), f"{DAY_START_MS / 1000:.3f}", "1.7675712e12", hostile_text(rng),
    )).encode("utf-8", "surrogatepass")


def prometheus_line(rng: random.Random, data: bytes) -> bytes:
    """A sample line changed part by part: its value, its timestamp, a label's value (escapes, `} ` inside, another
    GPU), a label dropped or renamed, a MIG instance, its blanks; or a line added: a repeat, a `# TYPE` of a counter,
    a comment, a sample of another family."""
    lines = _lines(data)
    samples = [i for i, line in enumerate(lines) if line and not line.startswith(b"#")]
    if not samples:
        return data + b"\n" + rng.choice(_FAMILIES).encode() + b'{UUID="' + _GPU_UUIDS[0].encode() + b'"} 1\n'
    index = rng.choice(samples)
    line = lines[index]
    head, brace, tail = line.rpartition(b"} ")
    if not brace:
        head, tail = b"", line
    parts = tail.split(b" ")
    kind = rng.randrange(12)
    if kind <= 1 and parts:
        parts[0] = rng.choice((encoded(hostile_text(rng)), repr(rng.uniform(-1e4, 1e4)).encode(), b"NaN", b"+Inf",
                               b"-Inf", b"1e3", b"-0", b"101", b"151", b"-41", b"5001", b"2147483649", b""))
    elif kind <= 3:
        if len(parts) > 1 and rng.random() < 0.2:
            del parts[1]
        elif len(parts) > 1:
            parts[1] = _timestamp_text(rng)
        else:
            parts.append(_timestamp_text(rng))
    elif kind <= 5:
        pairs = list(_LABEL_PAIR.finditer(head))
        if pairs:
            match = rng.choice(pairs)
            value = rng.choice((encoded(hostile_text(rng)), b'a\\"b', b"a\\\\", b"x\\n", b"x} y", b"} 5 1", b"",
                                rng.choice(_GPU_UUIDS).encode(), rng.choice(_GPU_UUIDS).upper().encode(),
                                b"GPU-zzzz", b'"', b"\\"))
            head = head[:match.start(2)] + value + head[match.end(2):]
    elif kind == 6:
        pairs = list(_LABEL_PAIR.finditer(head))
        if pairs:
            match = rng.choice(pairs)
            name = rng.choice((b"", b"uuid", b"hostname", b"GPU_I_ID", b"1x", b"serial"))
            head = head[:match.start()] + (name + b'="' + match.group(2) + b'"' if name else b"") + head[match.end():]
    elif kind == 7:
        head = head + b',GPU_I_PROFILE="3g.40gb",GPU_I_ID="' + str(rng.randint(0, 3)).encode() + b'"'
    elif kind == 8:
        separator = rng.choice((b"\t", b"  ", b" \t", b" "))
        return b"\n".join([*lines[:index], (head + b"}" + separator + separator.join(parts)) if brace
                           else separator.join(parts), *lines[index + 1:]])
    elif kind == 9:
        lines.insert(rng.randint(0, len(lines)), line)  # the same sample again
        return b"\n".join(lines)
    elif kind == 10:
        family = rng.choice(_FAMILIES).encode()
        lines.insert(rng.randint(0, len(lines)), rng.choice((
            b"# TYPE " + family + b" counter", b"# TYPE " + family + b" gauge", b"# HELP " + family + b" x", b"#",
            b"# TYPE", b"", b"   ", b"\t# comment")))
        return b"\n".join(lines)
    else:
        metric = rng.choice((*(f.encode() for f in _FAMILIES), b"1bad", b"a-b", b"", b"DCGM_FI_DEV_GPU_UTIL{"))
        head = metric + head[head.find(b"{"):] if b"{" in head else metric
    lines[index] = (head + b"} " if brace else b"") + b" ".join(parts)
    return b"\n".join(lines)


# --- the inputs -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Seed:
    """A good file (or a real shape refused as such, `refused` naming its reason) and the name it arrives under."""

    label: str
    content: bytes
    name: str
    refused: str | None = None


@dataclass(frozen=True)
class FileParser:
    """A file format fuzzed: its good files, the edits of its own structure, and its share of the inputs."""

    name: str
    weight: float
    seeds: Callable[[], list[Seed]]
    structural: tuple[Callable[[random.Random, bytes], bytes], ...]
    # After the format's own edits, how many byte edits are drawn from: few for a container (a zip, a JSON document,
    # an XML message) whose every byte edit most likely makes it unreadable as a whole, so that most inputs reach
    # the rows' rules; text formats read line by line take more.
    byte_edits_after: tuple[int, ...] = (0, 0, 1, 2)


def _written(write: Callable[[Path], None]) -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "good"
        write(path)
        return path.read_bytes()


# A lender whose servicer writes day-first dates, `1.250.000,00` amounts and rates as fractions, and one whose
# workbook names its tape's sheet and header row: the layouts' settings (counterparties.toml) fuzzed with them.
EXTRA_LENDERS = tape_shapes.european_servicer_layout("euro-servicer", "Fuzzing: a European servicer's CSV") + """
[lenders.sheet-lender]
name = "Fuzzing: a workbook whose tape sheet and header row are given"
sheet = "Tape"
header_row = 3
rate_unit = "percent"
date_format = "%d.%m.%Y"

[lenders.sheet-lender.columns]
as_of_date = "As Of"
loan_id = "Loan"
loan_terms_hash = "Terms Hash"
borrower_id = "Borrower"
currency = "CCY"
original_principal = "Original"
principal_outstanding = "Outstanding"
accrued_interest = "Accrued"
daily_interest = "Daily"
interest_rate_bps = "Rate %"
status = "Status"
days_past_due = "DPD"
origination_date = "Funded"
maturity_date = "Matures"
collateral = "Collateral"
"""


def _tape_csv_seeds() -> list[Seed]:
    shapes = tape_shapes
    real = [
        shapes.loan(shapes.HASH_1, original_principal="$1,250,000.00", principal_outstanding="USD 1,000,000.00",
                    interest_rate_bps="7.5%", origination_date="1-Dec-2025",
                    maturity_date=str(shapes.SERIAL_2025_12_01 + 365)),
        shapes.loan(shapes.HASH_2, principal_outstanding="400 000.50", accrued_interest="82.19", daily_interest="82.19",
                    origination_date="December 1, 2025", insurance_cover_ratio="80%",
                    insurance_waiting_period_days="30"),
    ]
    titled = [["Acme Capital - GPU loan tape"], ["As of 5 January 2026"], [], *shapes.tape_lines(real),
              ["Total", "", "", "", "", "", "", "2,500,000.00", "1,400,000.50", "287.67"], [],
              ["Amounts in US dollars."]]
    euro = [shapes.EURO_HEADER, shapes.euro_row(shapes.HASH_1),
            shapes.euro_row(shapes.HASH_2, Darlehen="E-2", Zinssatz="0.08125")]
    without_insurance = [[c for c in row if c not in tape.INSURANCE_COLUMNS] if i == 0 else row[:-2]
                         for i, row in enumerate(shapes.tape_lines([shapes.loan(shapes.HASH_1)]))]
    return [
        Seed("tape", sandbox_files.TAPE_CSV, "tape.csv"),
        Seed("lender-b", sandbox_files.LENDER_B_CSV, "lender-b-2026-01-05.csv"),
        Seed("titled-tape", sandbox_files.TITLED_TAPE_CSV, "acme-2026-01-05.csv"),
        Seed("real-shapes", shapes.csv_text(titled).encode(), "acme-2026-01-05.csv"),
        Seed("euro-servicer", shapes.csv_text(euro).encode(), "euro-servicer-2026-01-05.csv"),
        Seed("no-insurance-columns", shapes.csv_text(without_insurance).encode(), "acme-2026-01-05.csv"),
        Seed("ambiguous-dates", shapes.csv_text(shapes.tape_lines([
            shapes.loan(shapes.HASH_1, origination_date="01/12/2025"),
            shapes.loan(shapes.HASH_2, origination_date="13/12/2025")])).encode(), "acme-2026-01-05.csv"),
    ]


def _sheet_lender_workbook(workbook) -> None:
    sheet = workbook.active
    sheet.title = "Tape"
    header = ["As Of", "Loan", "Terms Hash", "Borrower", "CCY", "Original", "Outstanding", "Accrued", "Daily",
              "Rate %", "Status", "DPD", "Funded", "Matures", "Collateral"]
    sheet.append(["Sheet lender - tape"])
    sheet.append([])
    sheet.append(header)
    sheet.append(["05.01.2026", "S-1", tape_shapes.HASH_1, "B-1", "USDC", 1_250_000, 1_000_000, 205.48, 205.48, 7.5,
                  "current", 0, "01.12.2025", "01.12.2026", "1001=1652922001234"])
    notes = workbook.create_sheet("Notes")
    notes.append(header)  # the same header on another sheet: the lender's `sheet` says which one is the tape


def _workbook(build: Callable) -> bytes:
    """A workbook written by openpyxl, with fixed times in place of the clock's: the same bytes on every run."""
    return reproducible_workbook(tape_shapes.workbook_bytes(build), datetime(2026, 1, 5, 22, 0))


def _tape_xlsx_seeds() -> list[Seed]:
    shapes = tape_shapes

    def found_on_its_sheet(workbook):
        summary = workbook.active
        summary.title = "Summary"
        summary.append(["Portfolio summary"])
        summary.append(["Loans", 2])
        sheet = workbook.create_sheet("Loans 2026-01-05")
        shapes.write_tape_sheet(sheet, [shapes.loan(shapes.HASH_1, insurance_cover_ratio="0.8",
                                                    insurance_waiting_period_days="30"),
                                        shapes.loan(shapes.HASH_2, interest_rate_bps="1250", borrower_name="")])
        sheet.merge_cells("F4:F5")
        sheet.append(["Total", None, None, None, None, None, None, 2_500_000, 2_000_000])

    def amount_merged(workbook):
        shapes.write_tape_sheet(workbook.active, [shapes.loan(shapes.HASH_1), shapes.loan(shapes.HASH_2)])
        workbook.active.title = "Tape"
        workbook.active.merge_cells("I4:I5")

    def two_tapes(workbook):
        shapes.write_tape_sheet(workbook.active, [shapes.loan(shapes.HASH_1)])
        workbook.active.title = "January"
        shapes.write_tape_sheet(workbook.create_sheet("December"), [shapes.loan(shapes.HASH_2,
                                                                                as_of_date="2025-12-31")])

    def dated_1904(workbook):
        from openpyxl.utils.datetime import MAC_EPOCH
        workbook.epoch = MAC_EPOCH
        sheet = workbook.active
        sheet.append(list(tape.LOAN_TAPE_COLUMNS))
        row = shapes.loan(shapes.HASH_1)
        sheet.append([(DAY - date(1904, 1, 1)).days if column == "as_of_date" else
                      (date(2025, 12, 1) - date(1904, 1, 1)).days if column == "origination_date" else
                      row[column] or None for column in tape.LOAN_TAPE_COLUMNS])

    return [
        Seed("lender-a", sandbox_files.LENDER_A_XLSX, "lender-a-2026-01-05.xlsx"),
        Seed("found-on-its-sheet", _workbook(found_on_its_sheet), "acme-2026-01-05.xlsx"),
        Seed("amount-merged", _workbook(amount_merged), "acme-2026-01-05.xlsx"),
        Seed("two-tapes", _workbook(two_tapes), "acme-2026-01-05.xlsx", refused="several_tapes"),
        Seed("1904", _workbook(dated_1904), "acme-2026-01-05.xlsx"),
        Seed("sheet-lender", _workbook(_sheet_lender_workbook), "sheet-lender-2026-01-05.xlsx"),
    ]


def _statement_csv_seeds() -> list[Seed]:
    return [Seed("statement", sandbox_files.STATEMENT_CSV, "custodian-a-2026-01-05.csv")]


def _iso20022_seeds() -> list[Seed]:
    holdings, cash = versions.HOLDINGS, versions.CASH
    seeds = [Seed(version, _written(lambda p, v=version: write_holdings_statement(p, DAY, "ACC-1", holdings,
                                                                                 version=v)), "holdings.xml")
             for version in versions.SUPPORTED_VERSIONS["semt.002"]]
    seeds += [Seed(version, _written(lambda p, v=version: write_cash_statement(p, DAY, "ACC-1", cash, version=v)),
                   "cash.xml") for version in versions.SUPPORTED_VERSIONS["camt.053"]]
    seeds += [Seed(f"{label}-{envelope}", document, "statement.xml") for label, document, envelope in (
        ("semt.05", sandbox_files.SEMT[2], "app_hdr"), ("semt.03", sandbox_files.SEMT[3], "data_pdu"),
        ("camt.05", sandbox_files.CAMT[2], "data_pdu"), ("camt.13", sandbox_files.CAMT[3], "app_hdr"))]
    declaration, document = seeds[-1 - len(versions.SUPPORTED_VERSIONS["camt.053"]) - 4].content.split(b"\n", 1)
    seeds.append(Seed("app-hdr-beside", declaration + b"\n" + envelopes.APP_HDR + document, "semt002.xml"))
    seeds.append(Seed("biz-msg", declaration + b"\n<BizMsg>" + envelopes.APP_HDR + document + b"</BizMsg>\n",
                      "semt002.xml"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        seeds.append(Seed("two-pages", versions.in_one_file(
            versions.page(folder, 1, holdings[:1], "1038400.00"),
            versions.page(folder, 2, holdings[1:], "1038400.00")), "holdings.xml"))
        seeds.append(Seed("two-days", versions.in_one_file(
            versions.page(folder, 1, holdings[:1], "989000.00"),
            versions.page(folder, 1, holdings[1:], "49400.00", day=date(2026, 1, 4))), "holdings.xml"))
    return seeds


def _prometheus_seeds() -> list[Seed]:
    collector_b = ("\ufeff" + bulk_parse.exposition_day(seed=12, interval_s=14_400).replace("\n", "\r\n")).encode()
    return [
        Seed("sandbox", sandbox_files.PROMETHEUS, "dcgm-2026-01-05.prom"),
        Seed("a-day-of-shapes", bulk_parse.exposition_day(seed=11, interval_s=14_400).encode(), "dcgm-2026-01-05.prom"),
        Seed("crlf-bom-latin1", collector_b.replace(b"node-02", b"n\xf6de-02", 1), "collector-b-2026-01-05.prom"),
        Seed("federate", dcgm_shapes.federated().encode(), "federate.prom"),
    ]


def _raw_scrape_seeds() -> list[Seed]:
    return [
        Seed("sandbox-mig", sandbox_files.RAW_SCRAPE, "dcgm-20260105T120000Z.prom"),
        Seed("stock", dcgm_shapes.stock_scrape().encode(), "node-03-20260105T101500Z.prom"),
        Seed("stock-lower-hostname", dcgm_shapes.stock_scrape("hostname").encode(), "node-03_2026-01-05T12:00:00Z.txt"),
        Seed("mig", dcgm_shapes.mig_scrape().encode(), "node-03-2026-01-05T12:00:00.250Z.prom"),
        Seed("no-time-in-name", dcgm_shapes.stock_scrape().encode(), "metrics"),
        Seed("a-day-unstamped", bulk_parse.exposition_day(seed=13, interval_s=14_400, stamped=False).encode(),
             "node-01-20260105T101500Z.prom"),
    ]


def _json_lines_seeds() -> list[Seed]:
    return [Seed("sandbox", sandbox_files.JSON_LINES, "dcgm-2026-01-05.jsonl")]


def _query_answer_seeds() -> list[Seed]:
    vector = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "DCGM_FI_DEV_GPU_UTIL", "UUID": dcgm_shapes.H100, "hostname": "node-03"},
         "value": [dcgm_shapes.T0 + 43_200.5, "77"]}]}}
    error = {"status": "error", "errorType": "timeout", "error": "query timed out in expression evaluation"}
    return [
        Seed("matrix", dcgm_shapes.query_range_answer().encode(), "history.json"),
        Seed("matrix-pretty", dcgm_shapes.query_range_answer(indent=2).encode(), "history-pretty.json"),
        Seed("vector", json.dumps(vector).encode(), "now.json"),
        Seed("error", json.dumps(error).encode(), "failed.json", refused="not_a_query_answer"),
    ]


def _inventory_seeds() -> list[Seed]:
    return [
        Seed("nvidia-smi", dcgm_shapes.nvidia_smi_inventory().encode(), "gpu-inventory-node-03-2026-01-05.csv"),
        Seed("nvidia-smi-basic-date", dcgm_shapes.nvidia_smi_inventory("9999999999999").encode(),
             "gpu-inventory-node-03-20260105.csv"),
    ]


def _random_seeds() -> list[Seed]:
    """What intake's recognition is asked of any file: the first bytes by which it tells the formats apart, then
    anything."""
    return [Seed(f"prefix-{number}", prefix, "dropped") for number, prefix in enumerate(sandbox_files.MAGIC_PREFIXES)]


def random_bytes(rng: random.Random, data: bytes) -> bytes:
    return data + rng.randbytes(rng.choice((0, 1, 16, 256, 1024, 4096)))


CSV_EDITS = (csv_cell, csv_cell, csv_cell, csv_header)
XML_EDITS = (xml_text, xml_text, xml_text, xml_element, xml_attribute, xml_message)
# Weights: each parser's share of the inputs, in proportion to how many of its inputs a second one core checks
# (measured: from ~17 a second for DCGM text, read twice, to ~350 for a query answer), so that each parser gets
# about the same share of the run's time: 100,000 inputs took 17 minutes on a shared 2-core machine.
FILE_PARSERS = (
    FileParser("loan_tape_csv", 3.5, _tape_csv_seeds, CSV_EDITS),
    FileParser("loan_tape_xlsx", 4.5, _tape_xlsx_seeds, (*(xlsx_member,) * 5, xlsx_container),
               byte_edits_after=(0, 0, 0, 0, 1)),
    FileParser("custodian_csv", 4.0, _statement_csv_seeds, CSV_EDITS),
    FileParser("iso20022", 6.0, _iso20022_seeds, XML_EDITS, byte_edits_after=(0, 0, 0, 1)),
    FileParser("dcgm_prometheus", 2.0, _prometheus_seeds, (prometheus_line,)),
    FileParser("dcgm_raw_scrape", 2.0, _raw_scrape_seeds, (prometheus_line,)),
    FileParser("dcgm_jsonl", 2.5, _json_lines_seeds, (json_lines_value,)),
    FileParser("prometheus_api_json", 24.0, _query_answer_seeds, (json_document_value,),
               byte_edits_after=(0, 0, 0, 1)),
    FileParser("nvidia_smi_csv", 13.0, _inventory_seeds, CSV_EDITS),
    FileParser("recognition", 17.0, _random_seeds, (random_bytes,)),
)
CHAIN_WEIGHT = 21.5


@functools.cache
def seeds_of(parser: str) -> list[Seed]:
    return next(p for p in FILE_PARSERS if p.name == parser).seeds()


def input_rng(parser: str, number: int) -> random.Random:
    """Input `number` of `parser`: the same on every run, on every machine (a str seed is hashed with SHA-512)."""
    return random.Random(f"{parser}:{number}")


@dataclass(frozen=True)
class FileInput:
    content: bytes
    name: str  # the name it is dropped under (a date or a scrape time in it is read when the content has none)
    seed: str  # the good file it was made from
    # DCGM text is read in batches of this many bytes: one batch for the whole file (as the ingest reads any file
    # under its 32 MiB batches), or a few, whose ends cut lines anywhere
    batch_bytes: int


def fuzz_file(parser: str, number: int) -> FileInput:
    """File input `number` of `parser`."""
    rng = input_rng(parser, number)
    spec = next(p for p in FILE_PARSERS if p.name == parser)
    seed = rng.choice(seeds_of(parser))
    content = seed.content
    # the format's own edits (a cell, an element's text, a JSON value, a zip member, a sample line's part), then
    # byte edits; or byte edits alone
    structural = rng.random() < 0.7
    if structural:
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            content = rng.choice(spec.structural)(rng, content)
    for _ in range(rng.choice(spec.byte_edits_after) if structural else rng.choice((1, 1, 2, 3, 4))):
        content = rng.choice(BYTE_EDITS)(rng, content)
    content = content[:MAX_INPUT_BYTES]
    name = seed.name if rng.random() < 0.95 else rng.choice(("dropped", "2026-13-45.csv", "statement", "x.json"))
    batch_bytes = rng.choice((WHOLE_FILE_BATCH, WHOLE_FILE_BATCH, WHOLE_FILE_BATCH, max(64, len(content) // 2 + 1),
                              max(64, len(content) // 3 + 1)))
    return FileInput(content, name, seed.label, batch_bytes)


# --- in-memory intake and ingestion ---------------------------------------------------------------------------------

INGESTED, REFUSED = "ingested", "refused"


@dataclass
class FileOutcome:
    """What became of one file: refused whole (its reason) or ingested (its rows counted)."""

    status: str
    reasons: Counter = field(default_factory=Counter)
    rows_in: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    quarantined_whole: bool = False  # readable as its format, unreadable as a document: row 0 of the quarantine


class InMemoryIntake:
    """Intake's recognition and a day's ingestion of one file, in a folder in memory; nothing goes to the lake."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lake = Lake(folder / "home")  # only its spill folder (the telemetry's) is written
        self.drops = folder / "drops"
        self.drops.mkdir(parents=True, exist_ok=True)
        self.batch_bytes = WHOLE_FILE_BATCH  # DCGM text is read in batches of this size (the input chooses)

    def take_in(self, content: bytes, name: str, depth: int = 0) -> list[FileOutcome]:
        """The outcome of `content` dropped as `name`; a file of several documents, that of each of its parts."""
        path = self.drops / name
        path.write_bytes(content)
        try:
            recognition = recognise(path, name)
            if recognition.problem == NO_SCRAPE_TIME:
                # as `backed ingest --scraped-at` gives it: the name carries the scrape time
                name = named_with_scrape_time(name, SCRAPED_AT)
                path = path.rename(self.drops / name)
                recognition = recognise(path, name)
            _check_recognition(recognition)
            if recognition.problem is None and recognition.as_of_date > RECEIVED_AT.date():
                return [_refused("future_date")]
            if recognition.problem == SEVERAL_DOCUMENTS and depth == 0:
                parts = _separated(content)
                if parts:
                    stem, extension = os.path.splitext(name)
                    return [outcome for number, part in enumerate(parts, start=1)
                            for outcome in self.take_in(part, f"{stem}.{number}-of-{len(parts)}{extension}", 1)]
            if recognition.problem is not None:
                return [_refused(recognition.problem)]
            inbox_file = InboxFile(path=path, name=name, sha256=hashlib.sha256(content).hexdigest(),
                                   size_bytes=len(content), source=recognition.source, format=recognition.format,
                                   producer_id=recognition.producer_id, as_of_date=recognition.as_of_date,
                                   received_at=RECEIVED_AT, document_key=recognition.document_key)
            return [self.ingested(inbox_file)]
        finally:
            path.unlink(missing_ok=True)

    def ingested(self, inbox_file: InboxFile) -> FileOutcome:
        """`validate_inbox_files` of one file, then the rows its source's ingester writes, in memory."""
        day = inbox_file.as_of_date

        def validate(inbox_file: InboxFile) -> RowSplit:
            split = self.validate(inbox_file, day)
            if inbox_file.format == scrapes.PROMETHEUS_FORMAT:
                _same_reading(split, self.reference_reading(inbox_file, day))
            return split

        split = split_or_rejected(inbox_file, validate)
        accepted, rejected, place = split.accepted, split.rejected, split.place
        rows_in, rows_quarantined = split.rows_in, split.rows_quarantined
        quarantined_whole = _checked_quarantine(inbox_file, rejected, place)
        assert 0 <= rows_quarantined <= rows_in, (rows_in, rows_quarantined)
        summary = FileIngestSummary(source=inbox_file.source, file_name=inbox_file.name, sha256=inbox_file.sha256,
                                    partition=day, rows_in=rows_in, rows_accepted=rows_in - rows_quarantined,
                                    rows_quarantined=rows_quarantined, reasons=reason_counts(rejected),
                                    size_bytes=inbox_file.size_bytes, format=inbox_file.format)
        if accepted is None:
            assert quarantined_whole and rejected.height == 1, rejected
        elif quarantined_whole:
            # an entry on the file as a whole beside its rows' (none is expected): then nothing of it is accepted
            assert accepted.height == 0 and rows_quarantined == rows_in, (accepted, rows_in, rows_quarantined)
        else:
            _checked_split(inbox_file, accepted, rejected, rows_in, rows_quarantined)
            self.lake_rows(inbox_file, accepted, summary)
        return FileOutcome(INGESTED, Counter(summary.reasons), rows_in, rows_in - rows_quarantined, rows_quarantined,
                           quarantined_whole)

    def validate(self, inbox_file: InboxFile, day: date):
        """The source's validation of one file; DCGM text read in bulk, in batches of `batch_bytes`."""
        if inbox_file.source == tape.SOURCE:
            return tape._validate(inbox_file, day)
        if inbox_file.source == statements.SOURCE:
            return statements._validate(inbox_file, day)
        assert inbox_file.source == scrapes.SOURCE, inbox_file.source
        if inbox_file.format == inventory.INVENTORY_FORMAT:
            return inventory.validate(inbox_file)
        with dcgm_reading(self.batch_bytes, line_by_line=False):
            return scrapes._validate(inbox_file, day, self.lake)

    def reference_reading(self, inbox_file: InboxFile, day: date):
        """The DCGM text file read line by line, the reading its bulk one must agree with (or its refusal)."""
        with dcgm_reading(self.batch_bytes, line_by_line=True):
            try:
                return scrapes._validate(inbox_file, day, self.lake)
            except UnreadableFile as problem:
                return problem

    def lake_rows(self, inbox_file: InboxFile, accepted: pl.DataFrame, summary: FileIngestSummary) -> None:
        """The rows the source's ingester writes of the file's accepted rows, cast to the lake's schemas as
        `Lake.write_table` casts them (safely: a value that does not fit raises)."""
        day, name, sha256 = inbox_file.as_of_date, inbox_file.name, inbox_file.sha256
        lineage = [pl.lit(name).alias("source_file"), pl.lit(sha256).alias("source_sha256")]
        if inbox_file.source == tape.SOURCE:
            loans = _in_lake_schema("loan_tapes", tape._loan_tape_rows(accepted, lineage), day)
            assert loans.num_rows == accepted.height
            _in_lake_schema("loan_collateral", tape._collateral_rows(accepted, lineage), day)
        elif inbox_file.source == statements.SOURCE:
            rows = _in_lake_schema("custodian_statements", statements._statement_rows(accepted, inbox_file), day)
            assert rows.num_rows == accepted.height
            _in_lake_schema("balance_assertions", statements._balance_assertions(accepted, inbox_file, summary), day)
        elif inbox_file.format == inventory.INVENTORY_FORMAT:
            _in_lake_schema("gpu_inventory", accepted, day)
        else:
            rollup = accepted.with_columns(lineage)
            series = scrapes.scrape_series(name)
            one_moment = rollup.select((pl.col("first_seen").n_unique() == 1) & (
                pl.col("first_seen") == pl.col("last_seen")).all()).item()
            if series is not None and rollup.height and one_moment:
                rollup = scrapes._series_rollup(rollup.with_columns(pl.lit(series).alias("series")))
            _in_lake_schema("gpu_telemetry_daily", rollup, day)


def _refused(reason: str) -> FileOutcome:
    return FileOutcome(REFUSED, Counter({reason: 1}))


def _check_recognition(recognition: Recognition) -> None:
    """A recognition either names a problem (a reason code, and the detail intake writes to the quarantine) or routes
    the file: a source that ingests it, a format, a producer and a day."""
    if recognition.problem is not None:
        assert isinstance(recognition.problem, str) and recognition.problem.strip(), recognition
        assert isinstance(recognition.detail, str), recognition
        refusal = pl.DataFrame({"source_file": ["file"], SOURCE_ROW: [0], "field": [""],
                                "value": [recognition.detail], "reason": [recognition.problem]})
        _conform(refusal.to_arrow(), QUARANTINE_SCHEMA, "quarantine")
        return
    assert recognition.source in (tape.SOURCE, statements.SOURCE, scrapes.SOURCE), recognition
    assert isinstance(recognition.format, str) and recognition.format, recognition
    assert isinstance(recognition.producer_id, str) and recognition.producer_id.strip(), recognition
    assert isinstance(recognition.as_of_date, date), recognition


def _separated(content: bytes) -> list[bytes]:
    """The documents of a file of several, as intake separates it."""
    for recogniser in file_recognisers():
        documents = recogniser.separate(content) if recogniser.separate is not None else []
        if len(documents) > 1:
            return documents
    return []


def _checked_quarantine(inbox_file: InboxFile, rejected: pl.DataFrame, place: DocumentPlace | None) -> bool:
    """Every quarantine entry names the file and a reason, fits the quarantine's schema, and reads as a message;
    whether one is the file's as a whole (row 0)."""
    quarantine = _conform(rejected.to_arrow(), QUARANTINE_SCHEMA, "quarantine")
    if not quarantine.num_rows:
        return False
    frame = pl.from_arrow(quarantine)
    assert frame.get_column("source_file").eq(inbox_file.name).all(), frame.head(3)
    reasons = frame.get_column("reason")
    assert reasons.null_count() == 0 and reasons.str.strip_chars().str.len_chars().min() > 0, frame.head(3)
    assert frame.get_column(SOURCE_ROW).null_count() == 0 and frame.get_column(SOURCE_ROW).min() >= 0
    quarantine_messages(rejected, place=place)
    return bool((frame.get_column(SOURCE_ROW) == 0).any())


def _checked_split(inbox_file: InboxFile, accepted: pl.DataFrame, rejected: pl.DataFrame, rows_in: int,
                   rows_quarantined: int) -> None:
    """Rows in = rows accepted + rows quarantined: no row lost, none both accepted and quarantined, none twice."""
    quarantined_rows = set(rejected.get_column(SOURCE_ROW).to_list())
    assert len(quarantined_rows) == rows_quarantined, (len(quarantined_rows), rows_quarantined)
    if inbox_file.source == scrapes.SOURCE and inbox_file.format != inventory.INVENTORY_FORMAT:
        # the accepted frame is the rollup per GPU: each accepted sample went into one GPU's figures
        samples = accepted.get_column("samples").sum() if accepted.height else 0
        assert samples <= rows_in - rows_quarantined, (samples, rows_in, rows_quarantined)
        assert (accepted.height > 0) == (rows_in > rows_quarantined), (accepted.height, rows_in, rows_quarantined)
        assert accepted.get_column("gpu_uuid").is_unique().all(), accepted
        return
    accepted_rows = accepted.get_column(SOURCE_ROW).to_list()
    assert len(set(accepted_rows)) == len(accepted_rows), "a row accepted twice"
    assert not quarantined_rows.intersection(accepted_rows), "a row both accepted and quarantined"
    assert len(accepted_rows) + rows_quarantined == rows_in, (len(accepted_rows), rows_quarantined, rows_in)


def _in_lake_schema(table: str, rows: pl.DataFrame, day: date) -> pa.Table:
    return _conform(_with_partition_date(rows.to_arrow(), day, table), SCHEMAS[table], table)


@contextlib.contextmanager
def dcgm_reading(batch_bytes: int, line_by_line: bool) -> Iterator[None]:
    """The DCGM text read in batches of `batch_bytes`, in bulk or line by line: every line cut by the anchored
    patterns of `parse_prometheus` and checked by the rules, the reading the bulk one must agree with."""
    bulk_sample_batches, batch_size = scrapes._sample_batches, scrapes.BATCH_BYTES

    def each_line(scrape_file, series, scraped_at):
        if scrape_file.format != scrapes.PROMETHEUS_FORMAT:
            yield from bulk_sample_batches(scrape_file, series, scraped_at)
            return
        for batch in scrapes.line_batches(scrape_file.path, scrape_file.sha256, scrapes.BATCH_BYTES):
            yield scrapes._SampleBatch(None, *scrapes.parse_prometheus(batch))

    scrapes.BATCH_BYTES = batch_bytes
    if line_by_line:
        scrapes._sample_batches = each_line
    try:
        yield
    finally:
        scrapes._sample_batches, scrapes.BATCH_BYTES = bulk_sample_batches, batch_size


def _same_reading(bulk, reference) -> None:
    """The DCGM text file read in bulk and line by line: the same rows in and quarantined, the same quarantine
    entries and per-GPU figures. (A refusal of the file is raised by the bulk reading, and must be the reference's.)"""
    assert not isinstance(reference, UnreadableFile), ("only the line-by-line reading refuses", reference)
    assert (bulk.rows_in, bulk.rows_quarantined) == (reference.rows_in, reference.rows_quarantined), (
        "rows in, rows quarantined", (bulk.rows_in, bulk.rows_quarantined),
        (reference.rows_in, reference.rows_quarantined))
    order = (SOURCE_ROW, "field", "reason", "value")
    assert bulk.rejected.sort(order, nulls_last=True).equals(reference.rejected.sort(order, nulls_last=True),
                                                            null_equal=True), ("quarantine", bulk.rejected,
                                                                               reference.rejected)
    assert bulk.accepted.equals(reference.accepted, null_equal=True), ("figures", bulk.accepted, reference.accepted)


# --- the chain log decoder ------------------------------------------------------------------------------------------

SPECS = sorted(REGISTRY.values(), key=lambda spec: (spec.topic0, spec.indexed_count))
CONTRACTS = ("0x" + "ab" * 20, "0x" + "0a" * 20, "0x" + "C0FFEE" * 6 + "C0FF", "0x" + "12" * 20)
ROLES = {CONTRACTS[0]: "usdai", CONTRACTS[1]: "susdai", CONTRACTS[2].lower(): "loan_router"}


def _abi_value(rng: random.Random, abi_type: str):
    if abi_type.endswith("]"):
        return [_abi_value(rng, abi_type[:abi_type.rindex("[")]) for _ in range(rng.randint(0, 3))]
    if abi_type.startswith("("):
        return tuple(_abi_value(rng, part) for part in abi_type[1:-1].split(","))
    if abi_type == "address":
        return "0x" + rng.randbytes(20).hex()
    if abi_type == "bool":
        return rng.random() < 0.5
    if abi_type == "string":
        return hostile_text(rng)[:60].encode("utf-8", "replace").decode("utf-8", "replace")
    if abi_type == "bytes":
        return rng.randbytes(rng.choice((0, 1, 31, 32, 33, 70)))
    if abi_type.startswith("bytes"):
        return rng.randbytes(int(abi_type[5:]))
    bits = int(abi_type[4:])
    if rng.random() < 0.85:
        return rng.getrandbits(min(bits, rng.choice((8, 64, 96))))
    # an edge now and then: one amount past DECIMAL(38,0) refuses the whole answer, so most answers hold none
    edges = (0, 1, (1 << bits) - 1, 10**38 - 1, 10**38, 1 << 127, rng.getrandbits(bits))
    return rng.choice([edge for edge in edges if edge < 1 << bits])


def _fitting_log(rng: random.Random) -> dict:
    spec = rng.choice(SPECS)
    topics, types, values = [spec.topic0], [], []
    for event_input in spec.inputs:
        value = _abi_value(rng, event_input.abi_type)
        if event_input.indexed:
            topics.append("0x" + (rng.randbytes(32).hex() if event_input.hashed_in_topic
                                  else abi_encode([event_input.abi_type], [value]).hex()))
        else:
            types.append(event_input.abi_type)
            values.append(value)
    return {"topics": topics, "data": "0x" + abi_encode(types, values).hex()}


def _word(rng: random.Random) -> str:
    return rng.choice((f"{rng.getrandbits(256):064x}", f"{rng.getrandbits(160):064x}", f"{rng.getrandbits(130):064x}",
                       "0" * 64, "0" * 63 + "1", "0" * 63 + "2", "f" * 64, f"{10**38:064x}", f"{10**38 - 1:064x}"))


def _misfit(rng: random.Random, log: dict) -> dict:
    """A log that nearly fits its event: a word short or long, padding that is not zero, a bool of 2, upper-case hex,
    a topic of another length or without 0x, an ABI offset anywhere, null fields; or its text's bytes edited."""
    topics, data = list(log["topics"]), log["data"]
    kind = rng.randrange(12)
    if kind == 0:
        data = data[:-64] if len(data) > 2 else data
    elif kind == 1:
        data = data + _word(rng)
    elif kind == 2 and len(data) > 2:
        words = [data[2 + at:2 + at + 64] for at in range(0, len(data) - 2, 64)]
        at = rng.randrange(len(words))
        words[at] = _word(rng)
        data = "0x" + "".join(words)
    elif kind == 3:
        data = rng.choice((data.upper().replace("0X", "0x"), data[2:], data + "0", data[:-1], "0x", "", "0x0"))
    elif kind == 4 and len(topics) > 1:
        at = rng.randrange(1, len(topics))
        topics[at] = rng.choice(("0x" + _word(rng), topics[at].upper().replace("0X", "0x"), topics[at][2:],
                                 topics[at][:-2], topics[at] + "00", "0x", "0xzz" + topics[at][6:]))
    elif kind == 5:
        topics[0] = rng.choice((topics[0].upper().replace("0X", "0x"), topics[0][2:], "0x" + _word(rng),
                                topics[0][:-2], "0X" + topics[0][2:]))
    elif kind == 6:
        if len(topics) > 1 and rng.random() < 0.5:
            del topics[rng.randrange(1, len(topics))]
        else:
            topics.insert(rng.randint(1, len(topics)), "0x" + _word(rng))
    elif kind == 7:
        offset = rng.choice((0, 32, 64, 96, 1 << 64, (1 << 256) - 1, rng.getrandbits(16)))
        data = f"0x{offset:064x}{data[2:]}"
    elif kind == 8:
        return {"topics": rng.choice((None, [], topics)), "data": rng.choice((None, data))}
    else:
        data = rng.choice(BYTE_EDITS)(rng, data.encode()).decode("utf-8", "replace")
    return {"topics": topics, "data": data}


def fuzz_answer(number: int) -> list[dict]:
    """Chain input `number`: one eth_getLogs answer of 1 to 24 logs, each fitting a registered event, nearly fitting
    it or noise, in blocks and log positions given in the node's hex (any case, leading zeros) and any order."""
    rng = input_rng("chain_log_decoder", number)
    count = rng.choice((1, 1, 2, 3, 5, 8, 24))
    places = sorted(rng.sample(range(7_000, 7_000 + 40 * count), count))
    logs = []
    for index, place in enumerate(places):
        block, log_index = divmod(place, 40)
        kind = rng.random()
        payload = _fitting_log(rng)
        if kind < 0.45:
            payload = _misfit(rng, payload)
        elif kind < 0.5:
            payload = {"topics": ["0x" + _word(rng) for _ in range(rng.randint(0, 4))], "data": "0x" + _word(rng)}
        contract = rng.choice(CONTRACTS)
        logs.append({
            "address": rng.choice((contract, contract.lower(), contract.upper().replace("0X", "0x"))),
            **payload,
            "blockNumber": rng.choice((hex(block), hex(block).upper().replace("0X", "0x"), f"0x{block:08x}")),
            "blockHash": "0x" + f"{block:064x}",
            "transactionHash": "0x" + hashlib.sha256(f"{number}:{index}".encode()).hexdigest(),
            "transactionIndex": "0x0",
            "logIndex": rng.choice((hex(log_index), hex(log_index).upper().replace("0X", "0x"))),
            "removed": rng.random() < 0.05,
        })
    rng.shuffle(logs)
    return logs


def decoded_alike(raw_logs: list[dict]) -> tuple[str, int, int]:
    """The answer decoded column-wise and log by log: the same chain_events rows in chain order and the same unknown
    logs, or both refused with RawAmountOutOfRange (the column-wise one naming a log the reference refuses).
    Returns (outcome, rows decoded, logs kept unknown)."""
    order = sorted(range(len(raw_logs)), key=lambda at: (int(raw_logs[at]["blockNumber"], 16),
                                                         int(raw_logs[at]["logIndex"], 16)))
    rows, unknown, refusals = [], [], []
    for position in order:
        decoded = decode_log(raw_logs[position])
        if decoded is None:
            unknown.append(position)
            continue
        try:
            rows.append(event_row(decoded, None, ROLES.get(raw_logs[position]["address"].lower())))
        except RawAmountOutOfRange as refused:
            refusals.append(str(refused))
    try:
        bulk = decode_logs(raw_logs, ROLES)
    except RawAmountOutOfRange as refused:
        assert str(refused) in refusals, (str(refused), refusals)
        return "refused", 0, 0
    assert not refusals, ("the reference refuses", refusals)
    expected = lake_table("chain_events", rows)
    assert bulk.events.schema == expected.schema
    for name in expected.column_names:
        assert bulk.events[name].equals(expected[name]), (name, bulk.events[name], expected[name])
    assert sorted(bulk.unknown) == sorted(unknown), (bulk.unknown, unknown)
    assert bulk.events.num_rows + len(bulk.unknown) == len(raw_logs)
    return ("accepted" if not unknown else "quarantined"), len(rows), len(unknown)


# --- inputs the fuzzing found -----------------------------------------------------------------------------------------

def _zip_version_claimed(workbook: bytes, version: int) -> bytes:
    """The workbook with its first central directory entry claiming it needs zip version `version` (in tenths) to
    be extracted: what a flipped bit in that byte claims."""
    at = workbook.index(b"PK\x01\x02") + 6
    return workbook[:at] + bytes([version]) + workbook[at + 1:]


# Inputs that once raised out of recognition or ingestion: tried on every run, each with what must become of it.
FOUND = {
    # a bit flipped in a zip directory entry's "version needed to extract": zipfile refuses it with
    # NotImplementedError, which the workbook's size check (document_tables._check_workbook_size) let out of
    # intake's recognition, stopping intake (found by loan_tape_xlsx's fuzzing)
    "xlsx_zip_version_14.8": ("loan_tape_xlsx", _zip_version_claimed(sandbox_files.LENDER_A_XLSX, 148),
                              "lender-a-2026-01-05.xlsx", "unreadable_file"),
}


# --- running the inputs ---------------------------------------------------------------------------------------------

PARSERS = (*(p.name for p in FILE_PARSERS), "chain_log_decoder")
WEIGHTS = {**{p.name: p.weight for p in FILE_PARSERS}, "chain_log_decoder": CHAIN_WEIGHT}


def inputs_of(parser: str, total: int = INPUTS) -> int:
    """The parser's share of `total` inputs, by weight; the shares add up to `total` exactly."""
    weight = sum(WEIGHTS.values())
    shares = {name: int(total * w / weight) for name, w in WEIGHTS.items()}
    short = total - sum(shares.values())
    for name in sorted(WEIGHTS, key=lambda n: (-((total * WEIGHTS[n] / weight) % 1), n))[:short]:
        shares[name] += 1
    return shares[parser]


def fuzz_input(parser: str, number: int):
    """Input `number` of `parser`, as the fuzzing built it: a file, or a chain answer."""
    return fuzz_answer(number) if parser == "chain_log_decoder" else fuzz_file(parser, number)


class AtScaleTally:
    """What each parser was given and how each input ended."""

    def __init__(self) -> None:
        self.inputs: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rows: Counter[tuple[str, str]] = Counter()
        self.reasons: dict[str, Counter[str]] = {}
        self.seconds: Counter[str] = Counter()
        self.slowest: dict[str, tuple[float, int]] = {}
        self.failures: dict[str, list[str]] = {}

    def record(self, parser: str, number: int, outcome: str, seconds: float) -> None:
        self.inputs[parser] += 1
        self.outcomes[(parser, outcome)] += 1
        self.seconds[parser] += seconds
        if seconds > self.slowest.get(parser, (0.0, -1))[0]:
            self.slowest[parser] = (seconds, number)

    def summary(self) -> dict:
        totals = {outcome: sum(n for (_, o), n in self.outcomes.items() if o == outcome)
                  for outcome in ("unhandled", "accepted", "quarantined", "refused")}
        return {
            "inputs_tried": sum(self.inputs.values()),
            **totals,
            "by_parser": {
                parser: {
                    "inputs": tried,
                    **{o: n for (p, o), n in self.outcomes.items() if p == parser},
                    "seconds": round(self.seconds[parser], 2),
                    "inputs_per_second": round(tried / self.seconds[parser], 1) if self.seconds[parser] else None,
                    "slowest_input": {"number": self.slowest[parser][1],
                                      "seconds": round(self.slowest[parser][0], 3)} if parser in self.slowest else None,
                    "rows": {kind: n for (p, kind), n in sorted(self.rows.items()) if p == parser},
                    "reasons": dict(self.reasons.get(parser, Counter()).most_common()),
                    "failures": self.failures.get(parser, []),
                }
                for parser, tried in sorted(self.inputs.items())
            },
        }


TALLY = AtScaleTally()


@pytest.fixture(scope="module")
def memory_folder(tmp_path_factory) -> Iterator[Path]:
    """A folder in memory (/dev/shm where there is one) for the inputs and the telemetry's spill."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path_factory.getbasetemp()
    folder = Path(tempfile.mkdtemp(prefix="backed-fuzz-at-scale-", dir=base))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def intake(memory_folder) -> Iterator[InMemoryIntake]:
    """In-memory intake, with the counterparties file plus two lenders whose layouts set what the others do not."""
    counterparties = memory_folder / "counterparties.toml"
    counterparties.write_text(COUNTERPARTIES_FILE.read_text() + EXTRA_LENDERS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BACKED_COUNTERPARTIES", str(counterparties))
        yield InMemoryIntake(memory_folder)


@pytest.fixture(scope="module", autouse=True)
def at_scale_summary(request, tmp_path_factory):
    """After the module: the counts as JSON (here, and under BACKED_RELIABILITY_DIR when set), and one line."""
    yield
    summary = TALLY.summary()
    for parser, tried in TALLY.inputs.items():
        record_bad_inputs(f"fuzz at scale: {parser}", tried)
        rows_in = TALLY.rows[(parser, "in")]
        if rows_in:
            # every row read was accepted or quarantined: anything else was lost
            Comparisons(f"{request.node.nodeid}::{parser}").compared(
                rows=rows_in, duplicates=0,
                lost=rows_in - TALLY.rows[(parser, "accepted")] - TALLY.rows[(parser, "quarantined")])
    paths = [tmp_path_factory.mktemp("reliability") / "fuzz-at-scale.json"]
    if os.environ.get("BACKED_RELIABILITY_DIR"):
        paths.append(Path(os.environ["BACKED_RELIABILITY_DIR"]) / "reports" / "reliability" / "fuzz-at-scale.json")
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    line = (f"fuzz at scale: {summary['inputs_tried']} inputs tried, {summary['unhandled']} unhandled, "
            f"{summary['accepted']} accepted, {summary['quarantined']} quarantined, {summary['refused']} refused "
            f"whole ({paths[-1]})")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            if reporter.verbosity <= 0:
                reporter.write("\n")
            reporter.write_line(line)


def run_file_input(intake: InMemoryIntake, parser: str, file_input: FileInput) -> str:
    """One file through in-memory intake and ingestion, its rows counted."""
    intake.batch_bytes = file_input.batch_bytes
    outcomes = intake.take_in(file_input.content, file_input.name)
    for outcome in outcomes:
        TALLY.reasons.setdefault(parser, Counter()).update(outcome.reasons)
        TALLY.rows[(parser, "in")] += outcome.rows_in
        TALLY.rows[(parser, "accepted")] += outcome.rows_accepted
        TALLY.rows[(parser, "quarantined")] += outcome.rows_quarantined
    if all(outcome.status == REFUSED or outcome.quarantined_whole for outcome in outcomes):
        return "refused"
    return "quarantined" if any(outcome.rows_quarantined for outcome in outcomes) else "accepted"


def run_input(intake: InMemoryIntake, parser: str, built) -> str:
    if parser == "chain_log_decoder":
        outcome, rows, unknown = decoded_alike(built)
        TALLY.rows[(parser, "logs decoded")] += rows
        TALLY.rows[(parser, "logs kept unknown")] += unknown
        return outcome
    return run_file_input(intake, parser, built)


def _kept(folder: Path, parser: str, number: int, built) -> Path:
    """The failing input, written where the test's temporary folder is kept."""
    if parser == "chain_log_decoder":
        path = folder / f"{parser}-{number}.json"
        path.write_text(json.dumps(built, indent=1))
    else:
        path = folder / f"{parser}-{number}-{built.seed}-{built.name.replace('/', '_')}.bin"
        path.write_bytes(built.content)
    return path


@pytest.mark.filterwarnings("ignore::UserWarning")  # openpyxl warns of each odd cell it reads
@pytest.mark.parametrize("parser", PARSERS)
def test_fuzz_at_scale(parser, intake, tmp_path):
    count = inputs_of(parser)
    failures = []
    for number in range(count):
        built = fuzz_input(parser, number)
        started = time.perf_counter()
        try:
            outcome = run_input(intake, parser, built)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:  # a panic in polars' Rust code is not an Exception
            outcome = "unhandled"
            path = _kept(tmp_path, parser, number, built)
            failures.append(f"{parser} input {number}: {type(error).__name__}: {str(error)[:600]} (the input: {path}; "
                            f"rebuilt by fuzz_input({parser!r}, {number}))")
        seconds = time.perf_counter() - started
        if seconds > SLOW_INPUT_SECONDS and outcome != "unhandled":
            failures.append(f"{parser} input {number} took {seconds:.0f} s (the input: "
                            f"{_kept(tmp_path, parser, number, built)})")
        TALLY.record(parser, number, outcome, seconds)
        if len(failures) >= MAX_FAILURES:
            break
    TALLY.failures[parser] = failures
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("parser", [p.name for p in FILE_PARSERS])
def test_the_good_files_go_through_as_expected(parser, intake):
    """The fuzzing starts from files that are ingested untouched (or refused for the reason their shape is meant
    to be), so what it finds is what a mutation broke."""
    intake.batch_bytes = WHOLE_FILE_BATCH
    for seed in seeds_of(parser):
        outcomes = intake.take_in(seed.content, seed.name)
        if seed.refused is not None:
            assert [reason for o in outcomes for reason in o.reasons] == [seed.refused], (seed.label, outcomes)
        elif parser != "recognition":
            assert all(o.status == INGESTED and not o.quarantined_whole and o.rows_in for o in outcomes), (
                seed.label, outcomes)


@pytest.mark.parametrize("found", sorted(FOUND))
def test_the_inputs_the_fuzzing_found(found, intake):
    parser, content, name, reason = FOUND[found]
    intake.batch_bytes = WHOLE_FILE_BATCH
    outcomes = intake.take_in(content, name)
    assert [(o.status, dict(o.reasons)) for o in outcomes] == [(REFUSED, {reason: 1})], outcomes
