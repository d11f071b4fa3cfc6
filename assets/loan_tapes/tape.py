"""Lenders' loan tapes (CSV or XLSX, in the tape schema's columns or a lender's own layout) → `loan_tapes`,
`loan_collateral` and `loan_tape_supersessions`.

A tape is one lender's book at the end of one as-of date, one row per loan (docs/loan-tape-schema.md). A lender
whose headers differ from the schema's has a layout in `counterparties.toml`. A corrected tape of a past date is
a new file of the same document (lender, as-of date): it replaces the earlier tape in the day's tables, and the
replacement is recorded in `loan_tape_supersessions`; the earlier file stays in the archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa

from assets.inbox.counterparties import counterparties
from assets.inbox.manifest import FileIngestSummary, record_input_files
from assets.inbox.register import InboxFile, Recognition, current_files, supersession_table
from foundation.lake import SCHEMAS, Lake
from assets.inbox.row_validation import (
    SOURCE_ROW,
    FieldRule,
    RowSplit,
    TextTable,
    UnreadableFile,
    as_integer,
    as_lower_hex,
    as_usd,
    bytes32_rule,
    csv_table,
    date_rules,
    encoding_rules,
    equals_rule,
    first_distinct,
    header_keys,
    most_common,
    non_negative_decimal_rules,
    non_negative_integer_rules,
    parsed_date,
    repeated_row_rule,
    required,
    split_rows,
    text_frame,
    unexpected_headers,
    validate_inbox_files,
    vocabulary_rule,
    xlsx_table,
)

SOURCE = "loan_tapes"
CSV_FORMAT, XLSX_FORMAT = "loan_tape_csv", "loan_tape_xlsx"

LOAN_TAPE_COLUMNS = (
    "as_of_date", "lender_id", "loan_id", "loan_terms_hash", "borrower_id", "borrower_name", "currency",
    "original_principal", "principal_outstanding", "accrued_interest", "daily_interest",
    "interest_rate_bps", "status", "days_past_due", "origination_date", "maturity_date", "collateral",
    "insurance_cover_ratio", "insurance_waiting_period_days",
)
INSURANCE_COLUMNS = ("insurance_cover_ratio", "insurance_waiting_period_days")
LOAN_STATUSES = ("current", "delinquent", "default", "repaid", "liquidated")
# Both are dollars at par: the V1 router lends USDC, LoanRouterV2 (a migrated loan among them) USDai.
LOAN_CURRENCIES = ("USDC", "USDai")
_USD_COLUMNS = ("original_principal", "principal_outstanding", "accrued_interest", "daily_interest")
_DATE_COLUMNS = ("as_of_date", "origination_date", "maturity_date")
_OPTIONAL_VALUES = ("borrower_name", "collateral", *INSURANCE_COLUMNS)

# Plausibility bounds: beyond them a value is a keying or unit error (cents as dollars, percent as bps).
MAX_LOAN_USD = Decimal(10) ** 12
MAX_RATE_BPS = 10_000  # 100% a year
MAX_DAYS_PAST_DUE = 36_500
MAX_WAITING_PERIOD_DAYS = 3_650

# Collateral schedule: `<nft_token_id>=<gpu>[|<gpu>...]` entries joined by `;`, a GPU being its 13-digit serial
# or its DCGM UUID. The shape is checked first so that a wrong GPU id is told apart from a garbled schedule.
_TOKEN_ID = r"(0|[1-9][0-9]*)"
_GPU_SERIAL = r"[0-9]{13}"
_GPU_UUID = r"GPU-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GPU = rf"(?:{_GPU_SERIAL}|{_GPU_UUID})"
_COLLATERAL_SHAPE = rf"^{_TOKEN_ID}=[^;=|]+(\|[^;=|]+)*(;{_TOKEN_ID}=[^;=|]+(\|[^;=|]+)*)*$"
_COLLATERAL_TEXT = rf"^{_TOKEN_ID}={_GPU}(\|{_GPU})*(;{_TOKEN_ID}={_GPU}(\|{_GPU})*)*$"
_DATE_IN_NAME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")


@dataclass(frozen=True)
class TapeLayout:
    """How one lender's tape is laid out: its header name for each tape column, and how it writes values."""

    lender_id: str | None  # None: the tape schema's own header, every row naming its lender
    columns: dict[str, str]  # tape column → the lender's header name
    required: frozenset[str]  # tape columns whose header must be present
    status_values: dict[str, str]
    date_format: str | None = None
    sheet: str | None = None
    header_row: int = 1


STANDARD_LAYOUT = TapeLayout(
    lender_id=None,
    columns={column: column for column in LOAN_TAPE_COLUMNS},
    # Tapes from before insurance was reported have no insurance columns: their loans have no cover.
    required=frozenset(LOAN_TAPE_COLUMNS) - frozenset(INSURANCE_COLUMNS),
    status_values={},
)


def tape_layouts() -> list[TapeLayout]:
    """Every lender's own layout, then the tape schema's."""
    layouts = []
    for lender_id, spec in sorted(counterparties().get("lenders", {}).items()):
        columns = dict(spec["columns"])
        unknown = set(columns) - set(LOAN_TAPE_COLUMNS)
        if unknown:
            raise ValueError(f"counterparties.toml: lender {lender_id} maps unknown tape columns {sorted(unknown)}")
        layouts.append(TapeLayout(
            lender_id=lender_id,
            columns=columns,
            required=frozenset(columns),
            status_values=dict(spec.get("status", {})),
            date_format=spec.get("date_format"),
            sheet=spec.get("sheet"),
            header_row=int(spec.get("header_row", 1)),
        ))
    return [*layouts, STANDARD_LAYOUT]


def header_match(layout: TapeLayout, header: list[str]) -> tuple[float, list[str]]:
    """The share of the layout's required headers present, and the tape columns whose header is missing."""
    present = header_keys(header)
    missing = [column for column in LOAN_TAPE_COLUMNS
               if column in layout.required and header_keys([layout.columns[column]]).isdisjoint(present)]
    return 1 - len(missing) / len(layout.required), missing


@dataclass(frozen=True)
class TapeText:
    """A tape as text in the tape schema's columns (a missing header's column is empty), as read with `layout`."""

    frame: pl.DataFrame
    problems: pl.DataFrame  # found while reading rows and cells
    layout: TapeLayout
    header: list[str]
    missing: list[str]  # tape columns whose header the layout requires and the file lacks
    unexpected: tuple[str, ...] = ()  # the file's headers the layout does not read


def read_tape(content: bytes, file_format: str, source_file: str, layout: TapeLayout | None = None) -> TapeText:
    """The tape read with `layout` (the best-matching one unless given), dates and statuses in the schema's
    spelling."""
    table, layout = _table_and_layout(content, file_format, layout)
    _, missing = header_match(layout, table.header)
    frame, problems = text_frame(table, dict(layout.columns), source_file)
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(column) for column in LOAN_TAPE_COLUMNS if column not in frame.columns
    ).select(SOURCE_ROW, *LOAN_TAPE_COLUMNS)
    return TapeText(_normalised(frame, layout), problems, layout, table.header, missing,
                    unexpected_headers(table.header, layout.columns.values()))


def recognise(content: bytes, file_format: str, name: str) -> Recognition:
    """A tape's lender and as-of date, from its rows: the value most rows agree on."""
    try:
        tape = read_tape(content, file_format, name)
    except UnreadableFile as problem:
        return Recognition(SOURCE, file_format, problem=problem.reason, detail=problem.value)
    lender_id = tape.layout.lender_id or most_common(tape.frame.get_column("lender_id"))
    as_of = most_common(tape.frame.select(parsed_date("as_of_date")).to_series())
    in_name = _DATE_IN_NAME.search(name)
    if as_of is None and in_name:
        as_of = _date_or_none(in_name.group(1))
    if lender_id is None and in_name:
        lender_id = Path(name).stem.removesuffix(f"-{in_name.group(1)}") or None
    if as_of is None or lender_id is None:
        return Recognition(SOURCE, file_format, lender_id, problem="no_as_of_date",
                           detail="no row names a valid as-of date and lender, nor does the file name")
    return Recognition(SOURCE, file_format, lender_id, as_of, document_key=f"{SOURCE}:{lender_id}:{as_of.isoformat()}")


def header_score(header: list[str]) -> float:
    """How well a header fits the best tape layout (1.0: every required header present)."""
    return max(header_match(layout, header)[0] for layout in tape_layouts())


def ingest_loan_tapes_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """Ingest the day's current loan tapes; rewrites the day's partitions."""
    files, supersessions = current_files(lake, SOURCE, day)
    validated = validate_inbox_files(lake, SOURCE, day, files, lambda tape: _validate(tape, day))
    tapes, collateral = [], []
    for file in validated:
        if file.accepted is None:
            continue
        lineage = [
            pl.lit(file.inbox_file.name).alias("source_file"),
            pl.lit(file.inbox_file.sha256).alias("source_sha256"),
        ]
        tapes.append(_loan_tape_rows(file.accepted, lineage))
        collateral.append(_collateral_rows(file.accepted, lineage))
    lake.write_table("loan_tapes", day, _concat_or_empty(tapes, "loan_tapes"))
    lake.write_table("loan_collateral", day, _concat_or_empty(collateral, "loan_collateral"))
    lake.write_table("loan_tape_supersessions", day, supersession_table("loan_tape_supersessions", supersessions))
    summaries = [file.summary for file in validated]
    record_input_files(lake, day, SOURCE, summaries)
    return summaries


def _table_and_layout(content: bytes, file_format: str, layout: TapeLayout | None) -> tuple[TextTable, TapeLayout]:
    if file_format == CSV_FORMAT:
        table = csv_table(content)
        if layout is None:
            layout = max(tape_layouts(), key=lambda candidate: header_match(candidate, table.header)[0])
        return table, layout
    if file_format != XLSX_FORMAT:
        raise ValueError(f"not a loan tape format: {file_format}")
    # A workbook's header may sit on a lender's own sheet and row: each layout is tried where it says.
    best: tuple[float, TextTable, TapeLayout] | None = None
    for candidate in [layout] if layout is not None else tape_layouts():
        try:
            table = xlsx_table(content, candidate.sheet, candidate.header_row)
        except UnreadableFile as problem:
            if problem.reason in ("missing_sheet", "unreadable_file") and layout is None:
                continue
            raise
        score = header_match(candidate, table.header)[0]
        if best is None or score > best[0]:
            best = (score, table, candidate)
    if best is None:
        raise UnreadableFile("unreadable_file", "", "no sheet of the workbook has a loan tape header")
    return best[1], best[2]


def _normalised(frame: pl.DataFrame, layout: TapeLayout) -> pl.DataFrame:
    """The lender's spelling of dates and statuses in the schema's; text that does not convert is kept as given,
    so the rules report the lender's own value."""
    if layout.lender_id is not None and layout.columns.get("lender_id") is None:
        frame = frame.with_columns(pl.lit(layout.lender_id).alias("lender_id"))
    if layout.date_format is not None:
        frame = frame.with_columns(
            pl.coalesce(
                pl.col(column).str.to_date(layout.date_format, strict=False).dt.to_string("%Y-%m-%d"),
                pl.col(column),
            ).alias(column)
            for column in _DATE_COLUMNS
        )
    if layout.status_values:
        frame = frame.with_columns(pl.col("status").replace(layout.status_values))
    return frame


def _validate(tape: InboxFile, day: date) -> RowSplit:
    text = read_tape(tape.read_bytes(), tape.format, tape.name)
    if text.missing:
        raise UnreadableFile("missing_column", ",".join(text.missing), ",".join(text.header)[:200], text.frame.height)
    split = split_rows(text.frame, _rules(day, lender_id=tape.producer_id), tape.name, text.problems)
    return replace(split, unexpected_columns=text.unexpected)


def _rules(day: date, lender_id: str) -> list[FieldRule]:
    collateral = pl.col("collateral")
    cover = pl.col("insurance_cover_ratio")
    waiting = pl.col("insurance_waiting_period_days")
    origination, maturity = parsed_date("origination_date"), parsed_date("maturity_date")
    return [
        *(required(column) for column in LOAN_TAPE_COLUMNS if column not in _OPTIONAL_VALUES),
        *encoding_rules(LOAN_TAPE_COLUMNS),
        *date_rules("as_of_date", must_equal=day, mismatch_reason="as_of_date_mismatch"),
        *date_rules("origination_date"),
        *date_rules("maturity_date"),
        FieldRule("origination_date", "origination_after_as_of", origination > pl.lit(day, pl.Date)),
        FieldRule("maturity_date", "maturity_before_origination", maturity < origination),
        equals_rule("lender_id", lender_id, "lender_id_mismatch"),
        bytes32_rule("loan_terms_hash", "invalid_loan_terms_hash"),
        # A row repeated word for word is a copy: the first goes through, the copies are quarantined.
        repeated_row_rule(LOAN_TAPE_COLUMNS, "repeated_row", key_field="loan_terms_hash"),
        # Two different rows for one loan make the tape ambiguous: neither is trusted.
        FieldRule(
            "loan_terms_hash", "duplicate_loan",
            first_distinct(LOAN_TAPE_COLUMNS)
            & pl.when(first_distinct(LOAN_TAPE_COLUMNS)).then(as_lower_hex("loan_terms_hash")).is_duplicated()
            & pl.col("loan_terms_hash").is_not_null(),
        ),
        vocabulary_rule("status", LOAN_STATUSES, "unknown_status"),
        vocabulary_rule("currency", LOAN_CURRENCIES, "unknown_currency"),
        *(rule for column in _USD_COLUMNS for rule in non_negative_decimal_rules(column, MAX_LOAN_USD)),
        *non_negative_integer_rules("interest_rate_bps", MAX_RATE_BPS),
        *non_negative_integer_rules("days_past_due", MAX_DAYS_PAST_DUE),
        FieldRule(
            "days_past_due",
            "days_past_due_status",
            pl.col("status").is_in(["current", "repaid"]) & (pl.col("days_past_due").cast(pl.Int64, strict=False) > 0),
        ),
        FieldRule("collateral", "invalid_collateral", ~collateral.str.contains(_COLLATERAL_SHAPE)),
        FieldRule(
            "collateral",
            "invalid_gpu_serial",
            collateral.str.contains(_COLLATERAL_SHAPE) & ~collateral.str.contains(_COLLATERAL_TEXT),
        ),
        *non_negative_decimal_rules("insurance_cover_ratio"),
        FieldRule("insurance_cover_ratio", "invalid_cover_ratio",
                  cover.str.contains(r"^[0-9]+(\.[0-9]+)?$") & (cover.cast(pl.Decimal(38, 18), strict=False) > 1)),
        *non_negative_integer_rules("insurance_waiting_period_days", MAX_WAITING_PERIOD_DAYS),
        required("insurance_waiting_period_days", when=cover.is_not_null()),
        FieldRule("insurance_waiting_period_days", "waiting_period_without_cover", cover.is_null() & waiting.is_not_null()),
    ]


def _loan_tape_rows(accepted: pl.DataFrame, lineage: list[pl.Expr]) -> pl.DataFrame:
    return accepted.select(
        parsed_date("as_of_date").alias("as_of_date"),
        "lender_id",
        "loan_id",
        as_lower_hex("loan_terms_hash").alias("loan_terms_hash"),
        "borrower_id",
        "borrower_name",
        "currency",
        *(as_usd(column).alias(column) for column in _USD_COLUMNS),
        as_integer("interest_rate_bps").alias("interest_rate_bps"),
        "status",
        as_integer("days_past_due").alias("days_past_due"),
        parsed_date("origination_date").alias("origination_date"),
        parsed_date("maturity_date").alias("maturity_date"),
        *lineage,
        SOURCE_ROW,
        as_usd("insurance_cover_ratio").alias("insurance_cover_ratio"),
        as_integer("insurance_waiting_period_days").alias("insurance_waiting_period_days"),
    )


def _collateral_rows(accepted: pl.DataFrame, lineage: list[pl.Expr]) -> pl.DataFrame:
    gpu = pl.col("gpu")
    is_uuid = gpu.str.starts_with("GPU-")
    return (
        accepted.filter(pl.col("collateral").is_not_null())
        .select(
            "lender_id",
            as_lower_hex("loan_terms_hash").alias("loan_terms_hash"),
            pl.col("collateral").str.split(";").alias("entry"),
            SOURCE_ROW,
        )
        .explode("entry")
        .with_columns(
            pl.col("entry").str.split_exact("=", 1).struct.rename_fields(["nft_token_id", "gpus"])
        )
        .unnest("entry")
        .with_columns(pl.col("gpus").str.split("|").alias("gpu"))
        .explode("gpu")
        .select(
            "lender_id",
            "loan_terms_hash",
            "nft_token_id",
            pl.when(~is_uuid).then(gpu).alias("gpu_serial"),
            *lineage,
            SOURCE_ROW,
            # DCGM writes UUIDs in lower case hex after the `GPU-` prefix.
            pl.when(is_uuid).then(pl.lit("GPU-") + gpu.str.slice(4).str.to_lowercase()).alias("gpu_uuid"),
        )
    )


def _date_or_none(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _concat_or_empty(frames: list[pl.DataFrame], table: str) -> pa.Table:
    return pl.concat(frames).to_arrow() if frames else SCHEMAS[table].empty_table()
