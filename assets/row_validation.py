"""Field rules for inbox rows, evaluated column-wise with polars, and the split into accepted rows and
quarantine entries (one entry per broken rule: file, row, field, value, reason).

A row breaking any rule is quarantined whole; the others go through. Reasons are stable codes so that
counts per reason can be compared across days.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import polars as pl

from assets.inbox import FileIngestSummary, InboxFile
from assets.lake import Lake

SOURCE_ROW = "source_row"

# 20 integer digits + 18 decimals fit DECIMAL(38,18); more would round or overflow, so it is an error.
_DECIMAL_TEXT = r"^\d{1,20}(\.\d{1,18})?$"
_NEGATIVE_DECIMAL_TEXT = r"^-\d{1,20}(\.\d{1,18})?$"
_ISO_DATE_TEXT = r"^\d{4}-\d{2}-\d{2}$"
_BYTES32_TEXT = r"^0x[0-9a-fA-F]{64}$"
# Up to 9 digits always fits INTEGER.
_INTEGER_TEXT = r"^\d{1,9}$"
_NEGATIVE_INTEGER_TEXT = r"^-\d{1,9}$"


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


class UnreadableFile(Exception):
    """The file as a whole cannot be read as the source's format; it is quarantined with this reason."""

    def __init__(self, reason: str, field: str, value: str, rows: int = 0) -> None:
        super().__init__(f"{reason}: {field}")
        self.reason = reason
        self.field = field
        self.value = value
        self.rows = rows  # data rows the file holds, all of them rejected; 0 when it cannot be parsed


@dataclass(frozen=True)
class ValidatedFile:
    inbox_file: InboxFile
    accepted: pl.DataFrame | None  # None when the file as a whole was rejected
    summary: FileIngestSummary


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
        try:
            split = validate(inbox_file)
        except UnreadableFile as problem:
            accepted, rejected = None, file_rejection(inbox_file.name, problem)
            rows_in = rows_quarantined = problem.rows
        else:
            accepted, rejected = split.accepted, split.rejected
            rows_in, rows_quarantined = split.rows_in, split.rows_quarantined
        lake.write_quarantine(source, day, inbox_file.name, rejected.to_arrow())
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
        )
        validated.append(ValidatedFile(inbox_file, accepted, summary))
    lake.remove_stale_quarantine(source, day, {inbox_file.name for inbox_file in files})
    return validated


def read_csv_as_text(inbox_file: InboxFile, required_columns: tuple[str, ...]) -> pl.DataFrame:
    """Every column as trimmed text (empty → null), plus the 1-based data row number."""
    try:
        frame = pl.read_csv(
            io.BytesIO(inbox_file.content),
            infer_schema=False,
            has_header=True,
            empty_string_is_null=True,
        )
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise UnreadableFile("unreadable_file", "", str(exc).splitlines()[0][:200]) from exc
    missing = [column for column in required_columns if column not in frame.columns]
    if missing:
        raise UnreadableFile("missing_column", ",".join(missing), ",".join(frame.columns)[:200], frame.height)
    frame = frame.select(required_columns).with_columns(
        pl.all().str.strip_chars().replace("", None)
    )
    return frame.with_row_index(SOURCE_ROW, offset=1).with_columns(pl.col(SOURCE_ROW).cast(pl.Int64))


def split_rows(frame: pl.DataFrame, rules: list[FieldRule], source_file: str) -> RowSplit:
    entries = [
        frame.filter(rule.breaks.fill_null(False)).select(
            pl.lit(source_file).alias("source_file"),
            pl.col(SOURCE_ROW),
            pl.lit(rule.field).alias("field"),
            _raw_value(frame, rule.field),
            pl.lit(rule.reason).alias("reason"),
        )
        for rule in rules
    ]
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


_REJECTION_SCHEMA = {
    "source_file": pl.String,
    SOURCE_ROW: pl.Int64,
    "field": pl.String,
    "value": pl.String,
    "reason": pl.String,
}


def _raw_value(frame: pl.DataFrame, field: str) -> pl.Expr:
    if field in frame.columns:
        return pl.col(field).cast(pl.String).alias("value")
    return pl.lit(None, pl.String).alias("value")


# Rules and parsers per kind of field. Each parser assumes its rules have already rejected bad text.

def required(field: str, when: pl.Expr | None = None) -> FieldRule:
    missing = pl.col(field).is_null()
    return FieldRule(field, "missing_value", missing if when is None else (when & missing))


def non_negative_decimal_rules(field: str) -> list[FieldRule]:
    text = pl.col(field)
    negative = text.str.contains(_NEGATIVE_DECIMAL_TEXT)
    return [
        FieldRule(field, "negative_amount", negative),
        FieldRule(field, "invalid_decimal", ~text.str.contains(_DECIMAL_TEXT) & ~negative),
    ]


def as_usd(field: str) -> pl.Expr:
    return pl.col(field).cast(pl.Decimal(38, 18), strict=True)


def non_negative_integer_rules(field: str) -> list[FieldRule]:
    text = pl.col(field)
    negative = text.str.contains(_NEGATIVE_INTEGER_TEXT)
    return [
        FieldRule(field, "negative_integer", negative),
        FieldRule(field, "invalid_integer", ~text.str.contains(_INTEGER_TEXT) & ~negative),
    ]


def as_integer(field: str) -> pl.Expr:
    return pl.col(field).cast(pl.Int32, strict=True)


def parsed_date(field: str) -> pl.Expr:
    """The date, or null where the text is not a real calendar date."""
    text = pl.col(field)
    return pl.when(text.str.contains(_ISO_DATE_TEXT)).then(text.str.to_date("%Y-%m-%d", strict=False))


def date_rules(field: str, must_equal: date | None = None, mismatch_reason: str = "") -> list[FieldRule]:
    rules = [FieldRule(field, "invalid_date", pl.col(field).is_not_null() & parsed_date(field).is_null())]
    if must_equal is not None:
        rules.append(FieldRule(field, mismatch_reason, parsed_date(field) != pl.lit(must_equal, pl.Date)))
    return rules


def vocabulary_rule(field: str, vocabulary: tuple[str, ...], reason: str) -> FieldRule:
    return FieldRule(field, reason, ~pl.col(field).is_in(list(vocabulary)))


def equals_rule(field: str, expected: str, reason: str) -> FieldRule:
    return FieldRule(field, reason, pl.col(field) != pl.lit(expected))


def bytes32_rule(field: str, reason: str) -> FieldRule:
    return FieldRule(field, reason, ~pl.col(field).str.contains(_BYTES32_TEXT))


def as_lower_hex(field: str) -> pl.Expr:
    return pl.col(field).str.to_lowercase()
