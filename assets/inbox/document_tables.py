"""Tabular documents (CSV, XLSX) read as text: the grid of cells a person sees when they open the file, bounded so
that no document can exhaust memory.

Loan tapes and custodian statements are documents of hundreds to thousands of rows: they are read whole, and the
readers hand polars one list per row. Telemetry, the large source, has its own streaming reader.

A workbook is read as its cells show: a number as its exact decimal text (at most 15 significant digits, what a
spreadsheet number holds exactly), a date cell as `YYYY-MM-DD`, a percent-formatted number as `12.5%`. Which row
holds the header, and which sheet the table, is the caller's choice: `csv_records` and `xlsx_heads` give the first
rows to choose from.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from posixpath import dirname, join, normpath

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

# A document larger than this is not a tape or a statement; reading it whole could exhaust memory (a zip bomb).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
# A worksheet's cells (rows × header columns) are bounded too: a few kilobytes of XLSX can declare a million rows.
# A tape of 100,000 loans is 2 million cells.
MAX_DOCUMENT_CELLS = 10_000_000
# A tape has 19 columns, a statement 15: a header of thousands is not one (and each column read costs memory).
MAX_DOCUMENT_COLUMNS = 1_000
# How many sheets of a workbook are looked at for a table: a loan book export has a few (the tape, a summary,
# notes), not hundreds.
MAX_WORKBOOK_SHEETS = 50
_LAST_SPREADSHEET_ROW = 1_048_576
# A spreadsheet number holds 15 significant decimal digits exactly; a longer shortest form means the cell holds a
# binary fraction that no one typed (a formula result such as 0.1 + 0.2).
_EXACT_SPREADSHEET_DIGITS = 15
# Day 0 of a workbook's serial dates in the 1900 date system (Excel's default; serials from 61 on, all dates after
# 1 March 1900, count from here). A workbook in the 1904 system says so in its properties.
EXCEL_1900_EPOCH = date(1899, 12, 30)


class UnreadableFile(Exception):
    """The file as a whole cannot be read as the source's format; it is quarantined with this reason."""

    def __init__(self, reason: str, field: str, value: str, rows: int = 0) -> None:
        super().__init__(f"{reason}: {field} {value}".strip())
        self.reason = reason
        self.field = field
        self.value = value
        self.rows = rows  # data rows the file holds, all of them rejected; 0 when it cannot be parsed


@dataclass(frozen=True)
class TextTable:
    """A document's rows as text under its own header, before any mapping to our columns."""

    header: list[str]
    rows: list[list[str | None]]
    # Found while reading single cells or rows (wrong field count, an inexact spreadsheet number):
    # (data row, header name or "" for the whole row, value, reason).
    problems: list[tuple[int, str, str, str]]
    sheet: str | None = None  # the worksheet (XLSX); None for a CSV
    header_row: int = 1  # the header's row in the document, as a spreadsheet numbers it: data row n is row header_row+n
    # Cells merged across rows below the header: (column index, first data row, last data row). The value is in the
    # first row's cell; what the merge means for the others is the caller's to say.
    merged: tuple[tuple[int, int, int], ...] = ()
    date_epoch: date = EXCEL_1900_EPOCH  # day 0 of the workbook's serial dates

    def place(self, data_row: int) -> str:
        """Where a data row is, as a person opening the file finds it."""
        row = self.header_row + data_row
        return f"sheet '{self.sheet}' row {row}" if self.sheet is not None else f"file row {row}"


def decode_document(content: bytes) -> str:
    """UTF-8 text; a byte-order mark is dropped, bytes that are not UTF-8 become U+FFFD for the encoding rules."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{len(content)} bytes, more than {MAX_DOCUMENT_BYTES}")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("unsupported_encoding", "", "UTF-16 text; the file must be UTF-8")
    return content.decode("utf-8", errors="replace").removeprefix("\ufeff")


def csv_records(content: bytes) -> list[list[str]]:
    """Every record of the CSV, as the csv module splits them."""
    text = decode_document(content)
    if "\x00" in text:
        raise UnreadableFile("unreadable_file", "", "NUL bytes: not a text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return list(reader)
    except csv.Error as exc:
        # The csv module refuses a field over its limit (128 KiB): no tape or statement field is anywhere near it.
        raise UnreadableFile("unreadable_file", "", f"not a readable CSV at line {reader.line_num}: {exc}") from exc


def csv_table(content: bytes, header_row: int = 1) -> TextTable:
    """The CSV's header (record `header_row`) and the records below it; a row with the wrong number of fields is
    kept, padded, and flagged."""
    records = csv_records(content)
    if len(records) < header_row or not any(cell.strip() for cell in records[header_row - 1]):
        raise UnreadableFile("unreadable_file", "", f"no header row in row {header_row}")
    header, rows = [cell.strip() for cell in records[header_row - 1]], records[header_row:]
    if len(header) > MAX_DOCUMENT_COLUMNS:
        raise UnreadableFile("too_many_columns", "", f"{len(header)} columns, more than {MAX_DOCUMENT_COLUMNS}",
                             len(rows))
    problems = []
    # A quoted field still open at the end of the file: the file was cut short, its last row is not whole.
    try:
        for _ in csv.reader(io.StringIO(decode_document(content), newline=""), strict=True):
            pass
    except csv.Error:
        # Where it was cut, not the cut text: that may be anything, a borrower's name too.
        column = header[len(rows[-1]) - 1] if rows and 0 < len(rows[-1]) <= len(header) else ""
        problems.append((len(rows), "", f"the file ends inside a quoted field {column}".strip(), "truncated_row"))
    width = len(header)
    for number, row in enumerate(rows, start=1):
        if len(row) != width and any(cell.strip() for cell in row):
            problems.append((number, "", f"{len(row)} fields, the header has {width}", "wrong_field_count"))
    padded = [[*row[:width], *[""] * (width - len(row))] for row in rows]
    return TextTable(header, [[cell or None for cell in row] for row in padded], problems, header_row=header_row)


def xlsx_heads(content: bytes, rows: int) -> list[tuple[str, list[list[str | None]]]]:
    """The first `rows` rows of each worksheet as text (at most MAX_DOCUMENT_COLUMNS wide), in workbook order."""
    _check_workbook_size(content)

    def heads(workbook) -> list[tuple[str, list[list[str | None]]]]:
        found = []
        for worksheet in _worksheets(workbook)[:MAX_WORKBOOK_SHEETS]:
            grid = [
                _trimmed([_cell_text(cell)[0] for cell in row])
                for row in worksheet.iter_rows(min_row=1, max_row=rows, max_col=MAX_DOCUMENT_COLUMNS)
            ]
            found.append((worksheet.title, grid))
        return found

    return _with_workbook(content, heads)


def xlsx_table(content: bytes, sheet: str | None = None, header_row: int = 1) -> TextTable:
    """The worksheet's header row and the rows below it as text (the first worksheet when `sheet` is None)."""
    _check_workbook_size(content)

    def table(workbook) -> TextTable:
        worksheets = _worksheets(workbook)
        chosen = next((worksheet for worksheet in worksheets if sheet is None or worksheet.title == sheet), None)
        if chosen is None:
            raise UnreadableFile("missing_sheet", sheet or "", ",".join(workbook.sheetnames)[:200])
        # openpyxl pads every row to the sheet's declared last column (up to 16,384, whatever the cells): rows are
        # read as wide as the header, and no further down than a spreadsheet goes.
        first = next(chosen.iter_rows(min_row=header_row, max_row=header_row, max_col=MAX_DOCUMENT_COLUMNS), ())
        header = _trimmed([_cell_text(cell)[0] for cell in first])
        if not header:
            raise UnreadableFile("unreadable_file", "", f"no header in row {header_row} of sheet '{chosen.title}'")
        width = len(header)
        rows, problems = [], []
        for number, row in enumerate(
            chosen.iter_rows(min_row=header_row + 1, max_row=_LAST_SPREADSHEET_ROW, max_col=width), start=1
        ):
            # counted as they come: the XML of a million rows of 16,384 columns deflates to a few kilobytes
            if (number + 1) * width > MAX_DOCUMENT_CELLS:
                raise UnreadableFile("file_too_large", "", f"more than {MAX_DOCUMENT_CELLS} cells in rows of {width} "
                                                           f"columns")
            texts = []
            for name, cell in zip(header, [*row, *[None] * (width - len(row))]):
                text, exact = _cell_text(cell)
                if not exact:
                    problems.append((number, name or "", text, "inexact_number"))
                texts.append(text)
            rows.append(texts)
        # Blank rows after the last row with a value are not rows; those before it keep the rows' numbering.
        last = max((number for number, row in enumerate(rows, start=1) if any(v is not None for v in row)), default=0)
        return TextTable(
            [text or "" for text in header], rows[:last], [p for p in problems if p[0] <= last], chosen.title,
            header_row, _merged_below(content, chosen.title, header_row, width, last),
            EXCEL_1900_EPOCH if workbook.epoch.year < 1904 else date(1904, 1, 1),
        )

    return _with_workbook(content, table)


def _check_workbook_size(content: bytes) -> None:
    if len(content) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{len(content)} bytes, more than {MAX_DOCUMENT_BYTES}")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    # NotImplementedError: a directory entry claiming a zip version past the module's (one bit flipped is enough)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise UnreadableFile("unreadable_file", "", f"not a readable XLSX workbook: {exc}"[:200]) from exc
    if unpacked > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{unpacked} bytes once unpacked, more than {MAX_DOCUMENT_BYTES}")


def _with_workbook(content: bytes, read):
    """`read(workbook)`, with whatever openpyxl (or the zip, deflate and XML layers under it) raises on these bytes
    turned into the reason the workbook cannot be read."""
    import openpyxl  # defusedxml is installed, so openpyxl parses the workbook's XML with it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            # Sheets are parsed lazily, while their rows are read: a damaged sheet fails in `read`, not at loading.
            return read(workbook)
        finally:
            workbook.close()
    except UnreadableFile:
        raise
    except Exception as exc:
        # A DTD (entity expansion, an external entity) is refused by defusedxml before anything is expanded or
        # fetched, as in an ISO 20022 statement.
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen and not isinstance(cause, DefusedXmlException):
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, DefusedXmlException):
            raise UnreadableFile("unsafe_xml", "", f"{type(cause).__name__}: {cause}"[:200]) from exc
        raise UnreadableFile("unreadable_file", "", f"not a readable XLSX workbook: {type(exc).__name__}: {exc}"[:200]
                             ) from exc


def _worksheets(workbook) -> list:
    # chartsheets have no cells
    return [worksheet for worksheet in workbook.worksheets if hasattr(worksheet, "iter_rows")]


def _trimmed(texts: list[str | None]) -> list[str | None]:
    end = len(texts)
    while end and texts[end - 1] is None:
        end -= 1
    return texts[:end]


_PERCENT_FORMAT = re.compile(r'%(?=(?:[^"]*"[^"]*")*[^"]*$)')  # a % outside quoted literal text


def _cell_text(cell) -> tuple[str | None, bool]:
    """A spreadsheet cell as the text it shows, and whether the text is exactly what the cell holds."""
    value = getattr(cell, "value", cell)
    if value is None:
        return None, True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return repr(value), True
        shortest = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        exact = len(shortest.as_tuple().digits) <= _EXACT_SPREADSHEET_DIGITS
        if _PERCENT_FORMAT.search(str(getattr(cell, "number_format", "") or "")):
            shortest = shortest.scaleb(2)
            return f"{_plain(shortest)}%", exact
        return _plain(shortest), exact
    if isinstance(value, datetime):
        return (value.date().isoformat() if value.time() == time(0) else value.isoformat()), True
    if isinstance(value, date):
        return value.isoformat(), True
    return str(value).strip(), True


def _plain(number: Decimal) -> str:
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


_MERGE_REF = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?mergeCell\b[^>]*?\bref="([A-Z]{1,3})([0-9]+):([A-Z]{1,3})([0-9]+)"')
_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PACKAGE_RELS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _merged_below(content: bytes, sheet: str, header_row: int, width: int, last: int) -> tuple[tuple[int, int, int], ...]:
    """The sheet's cells merged across rows within the table (below the header, within its columns): (column
    index, first data row, last data row). A read-only workbook does not load merges, so they are read from the
    sheet's XML (`mergeCells/mergeCell/@ref`)."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        part = _worksheet_part(archive, sheet)
        if part is None:
            return ()
        xml = archive.read(part)
    merged = []
    for first_column, first_row, _, last_row in _MERGE_REF.findall(xml):
        column, top, bottom = _column_index(first_column.decode()), int(first_row), int(last_row)
        if bottom > top and top > header_row and column < width and top - header_row <= last:
            merged.append((column, top - header_row, min(bottom - header_row, last)))
    return tuple(sorted(merged))


def _worksheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip entry of the named worksheet, from the workbook's sheet list and its relationships."""
    workbook = fromstring(archive.read("xl/workbook.xml"), forbid_dtd=True)
    relationship = next((entry.get(_RELATIONSHIP_ID) for entry in workbook.iter(f"{_MAIN_NS}sheet")
                         if entry.get("name") == sheet), None)
    relationships = fromstring(archive.read("xl/_rels/workbook.xml.rels"), forbid_dtd=True)
    target = next((entry.get("Target") for entry in relationships.iter(f"{_PACKAGE_RELS_NS}Relationship")
                   if entry.get("Id") == relationship), None)
    if target is None:
        return None
    part = target.lstrip("/") if target.startswith("/") else normpath(join(dirname("xl/workbook.xml"), target))
    return part if part in archive.namelist() else None


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - ord("A") + 1
    return index - 1


def column_letters(index: int) -> str:
    """A 0-based column index as a spreadsheet names it (0 → A, 27 → AB)."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters
