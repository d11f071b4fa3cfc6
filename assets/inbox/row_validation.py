"""A document's rows as text in our columns, field rules evaluated column-wise with polars, and the split into
accepted rows and quarantine entries (one entry per broken rule: file, row, field, value, reason).

A row breaking any rule is quarantined whole; the others go through. Reasons are stable codes so that counts per
reason can be compared across days. Rows in = rows accepted + rows quarantined, always: `split_rows` is the only
place that counts. Reading the documents themselves is assets.inbox.document_tables.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from assets.inbox.document_tables import MAX_DOCUMENT_BYTES, TextTable, UnreadableFile, column_letters
from assets.inbox.manifest import FileIngestSummary
from assets.inbox.register import InboxFile, Recognition
from foundation.chain_text import BYTES32_TEXT
from foundation.lake import Lake

SOURCE_ROW = "source_row"

# 20 integer digits + 18 decimals fit DECIMAL(38,18); more would round or overflow, so it is an error.
DECIMAL_TEXT = r"^[0-9]{1,20}(\.[0-9]{1,18})?$"
_NEGATIVE_DECIMAL_TEXT = r"^-[0-9]{1,20}(\.[0-9]{1,18})?$"
_ISO_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Up to 9 digits always fits INTEGER.
_INTEGER_TEXT = r"^[0-9]{1,9}$"
_NEGATIVE_INTEGER_TEXT = r"^-[0-9]{1,9}$"
# What a lossy decoding leaves where bytes were not UTF-8 (a Latin-1 file read as UTF-8).
_REPLACEMENT_CHARACTER = "\ufffd"
# Fields holding personal data (a borrower's name): their values are never written into a quarantine message.
PERSONAL_FIELDS = frozenset({"borrower_name"})


@dataclass(frozen=True)
class FieldRule:
    """`breaks` is true on rows that break the rule; a null result counts as not broken."""

    field: str
    reason: str
    breaks: pl.Expr


@dataclass(frozen=True)
class RowSplit:
    accepted: pl.DataFrame | None  # None: the file could not be read at all (split_or_rejected)
    rejected: pl.DataFrame  # quarantine entries
    rows_in: int
    rows_quarantined: int
    # Headers of the file that no column of the source's layout reads: schema drift, reported by check H4.
    unexpected_columns: tuple[str, ...] = ()
    # Where the rows are in the document (sheet, header row, the document's header name of each of our columns), so
    # that a quarantine message names the cell a person opens; None when the rows are not a table's (XML, JSON).
    place: DocumentPlace | None = None


@dataclass(frozen=True)
class DocumentPlace:
    table: TextTable
    columns: dict[str, str] = field(default_factory=dict)  # our field → the document's header name

    def describe(self, data_row: int, our_field: str) -> str:
        """`sheet 'Loan Tape' cell H14, column 'Current Principal Balance'`, or `file row 3, column 'UPB'`."""
        index = column_positions(self.table.header, self.columns).get(our_field)
        row = self.table.header_row + data_row
        if self.table.sheet is None:
            where = f"file row {row}"
        elif index is None:
            where = f"sheet '{self.table.sheet}' row {row}"
        else:
            where = f"sheet '{self.table.sheet}' cell {column_letters(index)}{row}"
        return f"{where}, column '{self.table.header[index]}'" if index is not None else where


@dataclass(frozen=True)
class ValidatedFile:
    inbox_file: InboxFile
    accepted: pl.DataFrame | None  # None when the file as a whole was rejected
    summary: FileIngestSummary


def split_or_rejected(inbox_file: InboxFile, validate: Callable[[InboxFile], RowSplit]) -> RowSplit:
    """The file's rows split by `validate`; when the file cannot be read at all, no rows accepted (`accepted` None)
    and one quarantine entry for the whole file, counting the rows it holds."""
    try:
        return validate(inbox_file)
    except UnreadableFile as problem:
        return RowSplit(accepted=None, rejected=file_rejection(inbox_file.name, problem), rows_in=problem.rows,
                        rows_quarantined=problem.rows)


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
        split = split_or_rejected(inbox_file, validate)
        lake.write_quarantine(source, day, inbox_file.name, inbox_file.sha256, split.rejected.to_arrow())
        summary = FileIngestSummary(
            source=source,
            file_name=inbox_file.name,
            sha256=inbox_file.sha256,
            partition=day,
            rows_in=split.rows_in,
            rows_accepted=split.rows_in - split.rows_quarantined,
            rows_quarantined=split.rows_quarantined,
            reasons=reason_counts(split.rejected),
            size_bytes=inbox_file.size_bytes,
            format=inbox_file.format,
            messages=quarantine_messages(split.rejected, place=split.place),
            unexpected_columns=split.unexpected_columns,
        )
        validated.append(ValidatedFile(inbox_file, split.accepted, summary))
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


def text_frame(table: TextTable, columns: dict[str, str], source_file: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Our columns (`columns`: ours → the document's header name; absent ones are null) as trimmed text, the 1-based
    data row number, and the reading problems renamed to our columns. Rows with every field empty are not rows."""
    keys = [_header_key(name) for name in table.header]
    wanted = {_header_key(theirs) for theirs in columns.values()}
    times = Counter(key for key in keys if key in wanted)
    repeated = sorted({name for name, key in zip(table.header, keys) if times[key] > 1})
    if repeated:
        # two columns under one name: which one holds the value is anyone's guess
        raise UnreadableFile("duplicate_column", ",".join(repeated), ",".join(table.header)[:200], len(table.rows))
    positions = column_positions(table.header, columns)
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
    problems = problem_frame(
        [(row, ours_by_theirs.get(_header_key(name), name), value, reason) for row, name, value, reason in table.problems],
        source_file,
    )
    return frame, problems


def column_positions(header: Sequence[str], columns: dict[str, str]) -> dict[str, int | None]:
    """Where each of our columns (`columns`: ours → the document's header name) is in `header` (0-based; None when
    the header lacks it), names matching as `header_keys` says. Of a name repeated, the last."""
    index = {_header_key(name): position for position, name in enumerate(header)}
    return {ours: index.get(_header_key(theirs)) for ours, theirs in columns.items()}


def unexpected_headers(header: Sequence[str], columns: Iterable[str]) -> tuple[str, ...]:
    """The file's non-blank headers that none of `columns` (the layout's header names) reads, in file order."""
    known = header_keys(list(columns))
    return tuple(name for name in header if name and name.strip() and _header_key(name) not in known)


def header_keys(header: Sequence[str]) -> set[str]:
    return {_header_key(name) for name in header}


def _header_key(name: str) -> str:
    """Header names match ignoring case, surrounding blanks and repeated inner blanks."""
    return " ".join(name.split()).casefold()


def problem_frame(problems: list[tuple[int, str, str, str]], source_file: str) -> pl.DataFrame:
    """Quarantine entries from (row, field, value, reason) found while reading a document."""
    return pl.DataFrame(
        {
            "source_file": [source_file] * len(problems),
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


def quarantine_messages(rejected: pl.DataFrame, limit: int = 20, place: DocumentPlace | None = None
                        ) -> tuple[str, ...]:
    """`<file>: row <n>, field <field>: <reason> (value '<value>')`, row 0 being the file as a whole, and where a
    table's row is in the document (`[sheet 'Loan Tape' cell H14, column 'Current Principal Balance']`). Messages go
    to logs and the terminal: the value of a personal field is not in them (the quarantine file keeps it)."""
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
    texts = first.select(message).to_series().to_list()
    if place is None:
        return tuple(texts)
    # at most `limit` messages: a loop over them is no loop over the document's rows
    return tuple(
        text if row == 0 else f"{text} [{place.describe(row, our_field or '')}]"
        for text, row, our_field in zip(texts, first.get_column(SOURCE_ROW).to_list(), first.get_column("field").to_list())
    )


_REJECTION_SCHEMA = {
    "source_file": pl.String,
    SOURCE_ROW: pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


# A column holding a field's text as the document wrote it, beside the field's text read into our spelling (a
# tape's `$1,250,000.00` beside `1250000.00`): quarantine entries show what the document says.
AS_WRITTEN = "{}__as_written"


def _raw_value(frame: pl.DataFrame, field: str) -> pl.Expr:
    for column in (AS_WRITTEN.format(field), field):
        if column in frame.columns:
            return pl.col(column).cast(pl.String).str.slice(0, 200).alias("value")
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
    well_formed = text.str.contains(DECIMAL_TEXT)
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
    return re.fullmatch(DECIMAL_TEXT, text.removeprefix("-")) is not None


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
    return FieldRule(field, reason, ~pl.col(field).str.contains(BYTES32_TEXT))


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
