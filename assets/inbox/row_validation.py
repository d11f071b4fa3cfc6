"""Reading tabular documents (CSV, XLSX) as text, field rules evaluated column-wise with polars, and the split into
accepted rows and quarantine entries (one entry per broken rule: file, row, field, value, reason).

A row breaking any rule is quarantined whole; the others go through. Reasons are stable codes so that counts per
reason can be compared across days. Rows in = rows accepted + rows quarantined, always: `split_rows` is the only
place that counts.

Loan tapes and custodian statements are documents of hundreds to thousands of rows: they are read whole, and the
CSV and XLSX readers hand polars one list per row. Telemetry, the large source, has its own streaming reader.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import polars as pl
from defusedxml import DefusedXmlException

from assets.inbox.manifest import FileIngestSummary
from assets.inbox.register import InboxFile, Recognition
from foundation.lake import Lake

SOURCE_ROW = "source_row"

# A document larger than this is not a tape or a statement; reading it whole could exhaust memory (a zip bomb).
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
# A worksheet's cells (rows × header columns) are bounded too: a few kilobytes of XLSX can declare a million rows.
# A tape of 100,000 loans is 2 million cells.
MAX_DOCUMENT_CELLS = 10_000_000
# A tape has 19 columns, a statement 15: a header of thousands is not one (and each column read costs memory).
MAX_DOCUMENT_COLUMNS = 1_000
_LAST_SPREADSHEET_ROW = 1_048_576

# 20 integer digits + 18 decimals fit DECIMAL(38,18); more would round or overflow, so it is an error.
_DECIMAL_TEXT = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"
_NEGATIVE_DECIMAL_TEXT = r"^-[0-9]{1,20}(\.[0-9]{1,18})?$"
_ISO_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_BYTES32_TEXT = r"^0x[0-9a-fA-F]{64}$"
# Up to 9 digits always fits INTEGER.
_INTEGER_TEXT = r"^[0-9]{1,9}$"
_NEGATIVE_INTEGER_TEXT = r"^-[0-9]{1,9}$"
# What a lossy decoding leaves where bytes were not UTF-8 (a Latin-1 file read as UTF-8).
_REPLACEMENT_CHARACTER = "\ufffd"
# Fields holding personal data (a borrower's name): their values are never written into a quarantine message.
PERSONAL_FIELDS = frozenset({"borrower_name"})
# A spreadsheet number holds 15 significant decimal digits exactly; a longer shortest form means the cell holds a
# binary fraction that no one typed (a formula result such as 0.1 + 0.2).
_EXACT_SPREADSHEET_DIGITS = 15


@dataclass(frozen=True)
class FieldRule:
    """`breaks` is true on rows that break the rule; a null result counts as not broken."""

    field: str
    reason: str
    breaks: pl.Expr


@dataclass(frozen=True)
class RowSplit:
    accepted: pl.DataFrame
    rejected: pl.DataFrame  # quarantine entries
    rows_in: int
    rows_quarantined: int
    # Headers of the file that no column of the source's layout reads: schema drift, reported by check H4.
    unexpected_columns: tuple[str, ...] = ()


class UnreadableFile(Exception):
    """The file as a whole cannot be read as the source's format; it is quarantined with this reason."""

    def __init__(self, reason: str, field: str, value: str, rows: int = 0) -> None:
        super().__init__(f"{reason}: {field} {value}".strip())
        self.reason = reason
        self.field = field
        self.value = value
        self.rows = rows  # data rows the file holds, all of them rejected; 0 when it cannot be parsed


@dataclass(frozen=True)
class ValidatedFile:
    inbox_file: InboxFile
    accepted: pl.DataFrame | None  # None when the file as a whole was rejected
    summary: FileIngestSummary


@dataclass(frozen=True)
class TextTable:
    """A document's rows as text under its own header, before any mapping to our columns."""

    header: list[str]
    rows: list[list[str | None]]
    # Problems found while reading single cells or rows (wrong field count, an inexact spreadsheet number).
    problems: pl.DataFrame


def validate_inbox_files(
    lake: Lake,
    source: str,
    day: date,
    files: list[InboxFile],
    validate: Callable[[InboxFile], RowSplit],
) -> list[ValidatedFile]:
    """Validate each file, write its quarantine entries, and summarise it for `input_files`."""
    validated = []
    for inbox_file in files:
        unexpected: tuple[str, ...] = ()
        try:
            split = validate(inbox_file)
        except UnreadableFile as problem:
            accepted, rejected = None, file_rejection(inbox_file.name, problem)
            rows_in = rows_quarantined = problem.rows
        else:
            accepted, rejected = split.accepted, split.rejected
            rows_in, rows_quarantined = split.rows_in, split.rows_quarantined
            unexpected = split.unexpected_columns
        lake.write_quarantine(source, day, inbox_file.name, inbox_file.sha256, rejected.to_arrow())
        summary = FileIngestSummary(
            source=source,
            file_name=inbox_file.name,
            sha256=inbox_file.sha256,
            partition=day,
            rows_in=rows_in,
            rows_accepted=rows_in - rows_quarantined,
            rows_quarantined=rows_quarantined,
            reasons=reason_counts(rejected),
            size_bytes=inbox_file.size_bytes,
            format=inbox_file.format,
            messages=quarantine_messages(rejected),
            unexpected_columns=unexpected,
        )
        validated.append(ValidatedFile(inbox_file, accepted, summary))
    lake.remove_stale_quarantine(source, day, {(f.name, f.sha256) for f in files})
    return validated


# --- reading documents as text ----------------------------------------------------------------------------------

def recognise_document(path: Path, recognise_content: Callable[[bytes], Recognition]) -> Recognition:
    """What a document (a tape, a statement) is, read whole: refused above MAX_DOCUMENT_BYTES, and refused with the
    reason when it cannot be read at all."""
    size = path.stat().st_size
    if size > MAX_DOCUMENT_BYTES:
        return Recognition(problem="file_too_large", detail=f"{size} bytes, more than {MAX_DOCUMENT_BYTES}")
    try:
        return recognise_content(path.read_bytes())
    except UnreadableFile as problem:
        return Recognition(problem=problem.reason, detail=problem.value)


def decode_document(content: bytes) -> str:
    """UTF-8 text; a byte-order mark is dropped, bytes that are not UTF-8 become U+FFFD for `encoding_rules`."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{len(content)} bytes, more than {MAX_DOCUMENT_BYTES}")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile("unsupported_encoding", "", "UTF-16 text; the file must be UTF-8")
    return content.decode("utf-8", errors="replace").removeprefix("\ufeff")


def csv_table(content: bytes) -> TextTable:
    """The CSV's header and rows; a row with the wrong number of fields is kept, padded, and flagged."""
    text = decode_document(content)
    if "\x00" in text:
        raise UnreadableFile("unreadable_file", "", "NUL bytes: not a text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        records = list(reader)
    except csv.Error as exc:
        # The csv module refuses a field over its limit (128 KiB): no tape or statement field is anywhere near it.
        raise UnreadableFile("unreadable_file", "", f"not a readable CSV at line {reader.line_num}: {exc}") from exc
    if not records or not any(cell.strip() for cell in records[0]):
        raise UnreadableFile("unreadable_file", "", "no header row")
    if len(records[0]) > MAX_DOCUMENT_COLUMNS:
        raise UnreadableFile("too_many_columns", "", f"{len(records[0])} columns, more than {MAX_DOCUMENT_COLUMNS}",
                             len(records) - 1)
    header, rows = [cell.strip() for cell in records[0]], records[1:]
    problems = []
    # A quoted field still open at the end of the file: the file was cut short, its last row is not whole.
    try:
        for _ in csv.reader(io.StringIO(text, newline=""), strict=True):
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
    return TextTable(header, [[cell or None for cell in row] for row in padded], _problem_frame(problems))


def xlsx_table(content: bytes, sheet: str | None = None, header_row: int = 1) -> TextTable:
    """The worksheet's header row and the rows below it as text. Numbers become their exact decimal text when the
    cell holds one (at most 15 significant digits); dates become `YYYY-MM-DD`."""
    if len(content) > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{len(content)} bytes, more than {MAX_DOCUMENT_BYTES}")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile("unreadable_file", "", f"not a readable XLSX workbook: {exc}"[:200]) from exc
    if unpacked > MAX_DOCUMENT_BYTES:
        raise UnreadableFile("file_too_large", "", f"{unpacked} bytes once unpacked, more than {MAX_DOCUMENT_BYTES}")
    sheet_names, cells = _worksheet_cells(content, sheet, header_row)
    if cells is None:
        raise UnreadableFile("missing_sheet", sheet or "", ",".join(sheet_names)[:200])
    if not cells or not any(value is not None for value in cells[0]):
        raise UnreadableFile("unreadable_file", "", f"no header in row {header_row}")
    # Blank rows after the last row with a value are not rows; those before it keep the rows' numbering.
    last = max(number for number, row in enumerate(cells) if any(value is not None for value in row))
    cells = cells[: last + 1]
    header = [_cell_text(value)[0] or "" for value in cells[0]]
    rows, problems = [], []
    for number, row in enumerate(cells[1:], start=1):
        texts = []
        for column, value in zip(header, [*row, *[None] * (len(header) - len(row))]):
            text, exact = _cell_text(value)
            if not exact:
                problems.append((number, column, text, "inexact_number"))
            texts.append(text)
        rows.append(texts)
    return TextTable(header, rows, _problem_frame(problems))


def _worksheet_cells(content: bytes, sheet: str | None, header_row: int) -> tuple[list[str], list[tuple] | None]:
    """The workbook's sheet names and the cell values of `sheet` (the first sheet when None) from `header_row` on;
    None for the cells when the workbook has no such worksheet."""
    import openpyxl  # defusedxml is installed, so openpyxl parses the workbook's XML with it

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        try:
            # Sheets are parsed lazily, while their rows are read: a damaged sheet fails here, not at loading.
            worksheets = [worksheet for worksheet in workbook.worksheets if hasattr(worksheet, "iter_rows")]
            chosen = next((worksheet for worksheet in worksheets if sheet is None or worksheet.title == sheet), None)
            if chosen is None:
                return workbook.sheetnames, None
            # openpyxl pads every row to the sheet's declared last column (up to 16,384, whatever the cells): rows
            # are read as wide as the header, and no further down than a spreadsheet goes.
            header = next(chosen.iter_rows(min_row=header_row, max_row=header_row, values_only=True), ())
            width = max((column + 1 for column, value in enumerate(header) if value is not None), default=0)
            if width == 0:
                return workbook.sheetnames, []
            cells = []
            for row in chosen.iter_rows(min_row=header_row, max_row=_LAST_SPREADSHEET_ROW, max_col=width,
                                        values_only=True):
                # counted as they come: the XML of a million rows of 16,384 columns deflates to a few kilobytes
                if (len(cells) + 1) * width > MAX_DOCUMENT_CELLS:
                    raise UnreadableFile("file_too_large", "", f"more than {MAX_DOCUMENT_CELLS} cells in rows of "
                                                               f"{width} columns")
                cells.append(row)
            return workbook.sheetnames, cells
        finally:
            workbook.close()
    except UnreadableFile:
        raise
    except Exception as exc:
        # Whatever openpyxl (or the zip, deflate and XML layers under it) raises on these bytes (a damaged entry, an
        # XML error, a value of the wrong type), the workbook cannot be read. A DTD (entity expansion, an external
        # entity) is refused by defusedxml before anything is expanded or fetched, as in an ISO 20022 statement.
        cause: BaseException | None = exc
        seen: set[int] = set()
        while cause is not None and id(cause) not in seen and not isinstance(cause, DefusedXmlException):
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, DefusedXmlException):
            raise UnreadableFile("unsafe_xml", "", f"{type(cause).__name__}: {cause}"[:200]) from exc
        raise UnreadableFile("unreadable_file", "", f"not a readable XLSX workbook: {type(exc).__name__}: {exc}"[:200]
                             ) from exc


def text_frame(table: TextTable, columns: dict[str, str], source_file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Our columns (`columns`: ours → the document's header name; absent ones are null) as trimmed text, the 1-based
    data row number, and the reading problems renamed to our columns. Rows with every field empty are not rows."""
    keys = [_header_key(name) for name in table.header]
    header_index = {key: index for index, key in enumerate(keys)}
    wanted = {_header_key(theirs) for theirs in columns.values()}
    times = Counter(key for key in keys if key in wanted)
    repeated = sorted({name for name, key in zip(table.header, keys) if times[key] > 1})
    if repeated:
        # two columns under one name: which one holds the value is anyone's guess
        raise UnreadableFile("duplicate_column", ",".join(repeated), ",".join(table.header)[:200], len(table.rows))
    positions = {ours: header_index.get(_header_key(theirs)) for ours, theirs in columns.items()}
    # Only the columns read become polars columns: a file may have any number of others (a few hundred kilobytes of
    # commas is a hundred thousand columns), and a frame of them all would take gigabytes.
    frame = pl.DataFrame(
        {
            ours: pl.Series(ours, [row[index] for row in table.rows] if index is not None else [None] * len(table.rows),
                            pl.String)
            for ours, index in positions.items()
        },
        schema={ours: pl.String for ours in columns},
    ).with_columns(pl.all().str.strip_chars().replace("", None))
    frame = frame.with_row_index(SOURCE_ROW, offset=1).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))
    blank = [not any(cell is not None and cell.strip() for cell in row) for row in table.rows]
    if any(blank):
        frame = frame.filter(~pl.Series(blank, dtype=pl.Boolean))
    ours_by_theirs = {_header_key(theirs): ours for ours, theirs in columns.items()}
    problems = table.problems.with_columns(
        pl.col("field").map_elements(lambda name: ours_by_theirs.get(_header_key(name), name), return_dtype=pl.String),
        pl.lit(source_file).alias("source_file"),
    ).select(_REJECTION_SCHEMA.keys())
    return frame, problems


def unexpected_headers(header: Sequence[str], columns: Iterable[str]) -> tuple[str, ...]:
    """The file's non-blank headers that none of `columns` (the layout's header names) reads, in file order."""
    known = header_keys(list(columns))
    return tuple(name for name in header if name and name.strip() and _header_key(name) not in known)


def header_keys(header: Sequence[str]) -> set[str]:
    return {_header_key(name) for name in header}


def _header_key(name: str) -> str:
    """Header names match ignoring case, surrounding blanks and repeated inner blanks."""
    return " ".join(name.split()).casefold()


def _cell_text(value) -> tuple[str | None, bool]:
    """A spreadsheet cell as text, and whether the text is exactly what the cell holds."""
    if value is None:
        return None, True
    if isinstance(value, bool):
        return ("true" if value else "false"), True
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value), True
        shortest = Decimal(repr(value))
        exact = len(shortest.as_tuple().digits) <= _EXACT_SPREADSHEET_DIGITS
        if shortest == shortest.to_integral_value():
            return str(int(shortest)), exact
        return format(shortest, "f"), exact
    if isinstance(value, datetime):
        return (value.date().isoformat() if value.time() == time(0) else value.isoformat()), True
    if isinstance(value, date):
        return value.isoformat(), True
    return str(value).strip(), True


def _problem_frame(problems: list[tuple[int, str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_file": [""] * len(problems),
            SOURCE_ROW: [row for row, _, _, _ in problems],
            "field": [field for _, field, _, _ in problems],
            "value": [value for _, _, value, _ in problems],
            "reason": [reason for _, _, _, reason in problems],
        },
        schema=_REJECTION_SCHEMA,
    )


# --- splitting rows ---------------------------------------------------------------------------------------------

def split_rows(
    frame: pl.DataFrame, rules: list[FieldRule], source_file: str, reading_problems: pl.DataFrame | None = None
) -> RowSplit:
    """Accepted rows and quarantine entries; `reading_problems` are entries found while reading the document."""
    checked = frame
    if reading_problems is not None and reading_problems.height:
        # A row that could not be read whole (cut short, fields shifted) breaks every rule by accident: its
        # reading problem is its one entry.
        unreadable = reading_problems.filter(pl.col("field") == "").get_column(SOURCE_ROW)
        checked = frame.filter(~pl.col(SOURCE_ROW).is_in(unreadable.implode()))
    # Every rule is evaluated in one pass over the rows; entries are built from the (few) rows breaking any.
    flags = [f"__rule_{number}" for number in range(len(rules))]
    broken = checked.with_columns(
        rule.breaks.fill_null(False).alias(flag) for rule, flag in zip(rules, flags)
    ).filter(pl.any_horizontal(flags)) if rules else checked.clear()
    entries = [
        broken.filter(pl.col(flag)).select(
            pl.lit(source_file).alias("source_file"),
            pl.col(SOURCE_ROW),
            pl.lit(rule.field).alias("field"),
            _raw_value(frame, rule.field),
            pl.lit(rule.reason).alias("reason"),
        )
        for rule, flag in zip(rules, flags)
    ]
    if reading_problems is not None and reading_problems.height:
        # A problem on a row that is not a row (blank) is not counted.
        entries.append(reading_problems.filter(pl.col(SOURCE_ROW).is_in(frame.get_column(SOURCE_ROW).implode())))
    rejected = pl.concat(entries) if entries else empty_rejections()
    rejected_rows = rejected.get_column(SOURCE_ROW).unique()
    accepted = frame.filter(~pl.col(SOURCE_ROW).is_in(rejected_rows.implode()))
    return RowSplit(
        accepted=accepted,
        rejected=rejected,
        rows_in=frame.height,
        rows_quarantined=rejected_rows.len(),
    )


def file_rejection(source_file: str, problem: UnreadableFile) -> pl.DataFrame:
    """A whole-file problem, recorded against row 0 (the file itself)."""
    return pl.DataFrame(
        {
            "source_file": [source_file],
            SOURCE_ROW: [0],
            "field": [problem.field],
            "value": [problem.value],
            "reason": [problem.reason],
        },
        schema=_REJECTION_SCHEMA,
    )


def empty_rejections() -> pl.DataFrame:
    return pl.DataFrame(schema=_REJECTION_SCHEMA)


def reason_counts(rejected: pl.DataFrame) -> dict[str, int]:
    counts = rejected.group_by("reason").len().sort("reason")
    return dict(zip(counts.get_column("reason").to_list(), counts.get_column("len").to_list()))


def quarantine_messages(rejected: pl.DataFrame, limit: int = 20) -> tuple[str, ...]:
    """`<file>: row <n>, field <field>: <reason> (value '<value>')`, row 0 being the file as a whole. Messages go to
    logs and the terminal: the value of a personal field is not in them (the quarantine file keeps it)."""
    first = rejected.sort(SOURCE_ROW, "field", "reason").head(limit)
    message = pl.format(
        "{}: {}{}: {}{}",
        pl.col("source_file"),
        pl.when(pl.col(SOURCE_ROW) == 0).then(pl.lit("the file")).otherwise(pl.format("row {}", pl.col(SOURCE_ROW))),
        pl.when(pl.col("field").fill_null("") == "").then(pl.lit("")).otherwise(pl.format(", field {}", pl.col("field"))),
        pl.col("reason"),
        pl.when(pl.col("value").is_null()).then(pl.lit(""))
        .when(pl.col("field").is_in(list(PERSONAL_FIELDS))).then(pl.lit(" (value masked: personal data)"))
        .otherwise(pl.format(" (value '{}')", pl.col("value"))),
    )
    return tuple(first.select(message).to_series().to_list())


_REJECTION_SCHEMA = {
    "source_file": pl.String,
    SOURCE_ROW: pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


def _raw_value(frame: pl.DataFrame, field: str) -> pl.Expr:
    if field in frame.columns:
        return pl.col(field).cast(pl.String).str.slice(0, 200).alias("value")
    return pl.lit(None, pl.String).alias("value")


# Rules and parsers per kind of field. Each parser assumes its rules have already rejected bad text.

def required(field: str, when: pl.Expr | None = None) -> FieldRule:
    missing = pl.col(field).is_null()
    return FieldRule(field, "missing_value", missing if when is None else (when & missing))


def encoding_rules(fields: Sequence[str]) -> list[FieldRule]:
    """A field holding bytes that were not UTF-8 (the file was written in another encoding, e.g. Latin-1)."""
    return [FieldRule(field, "invalid_encoding", pl.col(field).str.contains(_REPLACEMENT_CHARACTER, literal=True))
            for field in fields]


def non_negative_decimal_rules(field: str, maximum: Decimal | None = None) -> list[FieldRule]:
    """Plain non-negative decimals that fit DECIMAL(38,18); above `maximum` is implausible (a misplaced decimal
    point, cents given as dollars), not a value to book."""
    text = pl.col(field)
    negative = text.str.contains(_NEGATIVE_DECIMAL_TEXT)
    well_formed = text.str.contains(_DECIMAL_TEXT)
    rules = [
        FieldRule(field, "negative_amount", negative),
        FieldRule(field, "invalid_decimal", ~well_formed & ~negative),
    ]
    if maximum is not None:
        too_large = pl.when(well_formed).then(text.cast(pl.Decimal(38, 18), strict=False) > pl.lit(maximum))
        rules.append(FieldRule(field, "implausible_amount", too_large))
    return rules


def is_decimal_text(text: str) -> bool:
    """Whether `text` is a plain decimal, negative or not, that fits DECIMAL(38,18): what the decimal rules accept."""
    return re.fullmatch(_DECIMAL_TEXT, text.removeprefix("-")) is not None


def as_usd(field: str) -> pl.Expr:
    return pl.col(field).cast(pl.Decimal(38, 18), strict=True)


def non_negative_integer_rules(field: str, maximum: int | None = None) -> list[FieldRule]:
    text = pl.col(field)
    negative = text.str.contains(_NEGATIVE_INTEGER_TEXT)
    well_formed = text.str.contains(_INTEGER_TEXT)
    rules = [
        FieldRule(field, "negative_integer", negative),
        FieldRule(field, "invalid_integer", ~well_formed & ~negative),
    ]
    if maximum is not None:
        rules.append(FieldRule(field, "implausible_value",
                               pl.when(well_formed).then(text.cast(pl.Int64, strict=False) > maximum)))
    return rules


def as_integer(field: str) -> pl.Expr:
    return pl.col(field).cast(pl.Int32, strict=True)


def parsed_date(field: str) -> pl.Expr:
    """The date, or null where the text is not a real calendar date."""
    text = pl.col(field)
    return pl.when(text.str.contains(_ISO_DATE_TEXT)).then(text.str.to_date("%Y-%m-%d", strict=False))


def date_rules(field: str, must_equal: date | None = None, mismatch_reason: str = "",
               not_after: date | None = None) -> list[FieldRule]:
    rules = [FieldRule(field, "invalid_date", pl.col(field).is_not_null() & parsed_date(field).is_null())]
    if must_equal is not None:
        rules.append(FieldRule(field, mismatch_reason, parsed_date(field) != pl.lit(must_equal, pl.Date)))
    if not_after is not None:
        rules.append(FieldRule(field, "future_date", parsed_date(field) > pl.lit(not_after, pl.Date)))
    return rules


def vocabulary_rule(field: str, vocabulary: tuple[str, ...], reason: str) -> FieldRule:
    return FieldRule(field, reason, ~pl.col(field).is_in(list(vocabulary)))


def equals_rule(field: str, expected: str, reason: str) -> FieldRule:
    return FieldRule(field, reason, pl.col(field) != pl.lit(expected))


def bytes32_rule(field: str, reason: str) -> FieldRule:
    return FieldRule(field, reason, ~pl.col(field).str.contains(_BYTES32_TEXT))


def repeated_row_rule(fields: Sequence[str], reason: str, key_field: str) -> FieldRule:
    """A row identical in every field to an earlier row of the file: a copy, quarantined (reported on
    `key_field`); the first one goes through, so the row is neither lost nor counted twice."""
    return FieldRule(key_field, reason, ~first_distinct(fields))


def first_distinct(fields: Sequence[str]) -> pl.Expr:
    return pl.struct(*fields).is_first_distinct()


def duplicate_rule(fields: Sequence[str], reason: str, when: pl.Expr | None = None) -> FieldRule:
    """Every row of a group of rows that share `fields` (and satisfy `when`): none of them is trusted."""
    key = pl.struct(*fields)
    scope = pl.all_horizontal(*(pl.col(f).is_not_null() for f in fields))
    if when is not None:
        scope = scope & when.fill_null(False)
    group = pl.when(scope).then(key)
    return FieldRule(fields[0], reason, scope & group.is_duplicated())


def as_lower_hex(field: str) -> pl.Expr:
    return pl.col(field).str.to_lowercase()


def most_common(values: pl.Series) -> object | None:
    """The value most rows agree on (ties: the earliest); null when no row has one. A document's own date or
    producer is read this way, so one wrong row cannot move the whole document."""
    present = values.drop_nulls()
    if present.is_empty():
        return None
    counts = (
        present.to_frame("value").with_row_index("position")
        .group_by("value").agg(pl.len().alias("count"), pl.col("position").min())
        .sort(["count", "position"], descending=[True, False])
    )
    return counts.get_column("value")[0]
