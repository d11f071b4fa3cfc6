"""Lenders' loan tapes (CSV or XLSX, in the tape schema's columns or a lender's own layout) → `loan_tapes`,
`loan_collateral` and `loan_tape_supersessions`.

A tape is one lender's book at the end of one as-of date, one row per loan (docs/loan-tape-schema.md). A lender
whose headers differ from the schema's has a layout in `counterparties.toml`. A corrected tape of a past date is
a new file of the same document (lender, as-of date): it replaces the earlier tape in the day's tables, and the
replacement is recorded in `loan_tape_supersessions`; the earlier file stays in the archive.

Tapes come as lenders' systems and analysts write them: the table is found by its header wherever it is (below a
title block, on whichever sheet of a workbook holds it); a totals row is checked against the rows, not read as a
loan; a cell merged over several loans is read as each loan's value where it names the same thing for all
(borrower, currency, as-of date) and refused where it would count money once for several; dates as Excel serials,
in the lender's day order or with month names; amounts with thousands separators and dollar signs; rates as
`12.5%`. Whatever cannot be read exactly is refused, naming the sheet, the row and the column.
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
from assets.inbox.document_tables import (
    TextTable,
    UnreadableFile,
    column_letters,
    csv_records,
    csv_table,
    xlsx_heads,
    xlsx_table,
)
from assets.inbox.manifest import FileIngestSummary, record_input_files
from assets.inbox.register import InboxFile, Recognition, current_files, supersession_table
from foundation.lake import SCHEMAS, Lake
from assets.inbox.row_validation import (
    AS_WRITTEN,
    DECIMAL_TEXT,
    SOURCE_ROW,
    DocumentPlace,
    FieldRule,
    RowSplit,
    as_integer,
    as_lower_hex,
    as_usd,
    bytes32_rule,
    column_positions,
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
    problem_frame,
    text_frame,
    unexpected_headers,
    validate_inbox_files,
    vocabulary_rule,
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
    date_format: str | None = None  # strftime codes of the lender's dates, tried first
    # How the lender writes `05/01/2026`: day first (5 January) or month first (May 1). Unset, such a date is refused
    # as ambiguous rather than guessed.
    day_first: bool | None = None
    rate_unit: str = "bps"  # how the rate column is written: bps, percent (12.5) or fraction (0.125); `12.5%` always reads
    decimal_comma: bool = False  # amounts written `1.234.567,89`
    sheet: str | None = None  # the workbook sheet that holds the tape; found by its header when unset
    header_row: int | None = None  # the header's row; found within the first HEADER_SCAN_ROWS rows when unset


RATE_UNITS = ("bps", "percent", "fraction")
# A title block, an as-of line, a logo row: the header is looked for within the first rows of each sheet.
HEADER_SCAN_ROWS = 30

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
        rate_unit = spec.get("rate_unit", "bps")
        if rate_unit not in RATE_UNITS:
            raise ValueError(f"counterparties.toml: lender {lender_id} has rate_unit {rate_unit!r}; use one of "
                             f"{', '.join(RATE_UNITS)}")
        layouts.append(TapeLayout(
            lender_id=lender_id,
            columns=columns,
            required=frozenset(columns),
            status_values=dict(spec.get("status", {})),
            date_format=spec.get("date_format"),
            day_first=spec.get("day_first"),
            rate_unit=rate_unit,
            decimal_comma=bool(spec.get("decimal_comma", False)),
            sheet=spec.get("sheet"),
            header_row=int(spec["header_row"]) if "header_row" in spec else None,
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

    frame: pl.DataFrame  # the loans' rows; a totals row and the notes below it are not among them
    problems: pl.DataFrame  # found while reading rows and cells
    layout: TapeLayout
    table: TextTable  # the document's table as found: its sheet, header row and cells
    missing: list[str]  # tape columns whose header the layout requires and the file lacks
    unexpected: tuple[str, ...] = ()  # the file's headers the layout does not read
    totals_mismatch: UnreadableFile | None = None  # the tape's grand total of an amount is not its rows' sum

    @property
    def header(self) -> list[str]:
        return self.table.header


def read_tape(content: bytes, file_format: str, source_file: str, layout: TapeLayout | None = None) -> TapeText:
    """The tape read with `layout` (the best-matching one unless given), values in the schema's spelling."""
    table, layout = _table_and_layout(content, file_format, layout)
    _, missing = header_match(layout, table.header)
    table, merge_problems = _merges_resolved(table, layout)
    frame, problems = text_frame(table, dict(layout.columns), source_file)
    problems = pl.concat([problems, problem_frame(merge_problems, source_file)])
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias(column) for column in LOAN_TAPE_COLUMNS if column not in frame.columns
    ).select(SOURCE_ROW, *LOAN_TAPE_COLUMNS)
    frame = _normalised(frame, layout, table)
    frame, problems, mismatch = _totals_checked(frame, problems, table)
    return TapeText(frame, problems, layout, table, missing, unexpected_headers(table.header, layout.columns.values()),
                    mismatch)


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
    """The tape's table: the sheet and row whose header best fits a layout (a lender's own `sheet` and `header_row`
    where its entry names them)."""
    if file_format == CSV_FORMAT:
        heads = [(None, csv_records(content)[:HEADER_SCAN_ROWS])]
    elif file_format == XLSX_FORMAT:
        heads = xlsx_heads(content, HEADER_SCAN_ROWS)
    else:
        raise ValueError(f"not a loan tape format: {file_format}")
    candidates = []  # (score, layout order, sheet order, row, sheet, layout)
    for order, candidate in enumerate([layout] if layout is not None else tape_layouts()):
        sheet_names = [name for name, _ in heads]
        for sheet_order, (sheet, rows) in enumerate(heads):
            if candidate.sheet is not None and candidate.sheet in sheet_names and sheet != candidate.sheet:
                continue
            for number, cells in enumerate(rows, start=1):
                if candidate.header_row is not None and number != candidate.header_row:
                    continue
                score = header_match(candidate, [cell or "" for cell in cells])[0]
                candidates.append((score, order, sheet_order, number, sheet, candidate))
    if not candidates:
        raise UnreadableFile("unreadable_file", "", "no sheet of the workbook has a row of cells")
    best = max(candidates, key=lambda found: (found[0], -found[1], -found[2], -found[3]))
    score, _, _, row, sheet, chosen = best
    if score == 0:
        # nothing looks like a tape's header: read the first row as one, so the refusal lists the columns it lacks
        sheet, row = heads[0][0], chosen.header_row or 1
    rivals = sorted({found[4] for found in candidates if found[0] == score and found[5] is chosen and found[4] != sheet})
    if score > 0 and rivals and chosen.sheet is None:
        who = f"for lender {chosen.lender_id} " if chosen.lender_id else ""
        raise UnreadableFile(
            "several_tapes", "sheet",
            f"sheets {', '.join(repr(name) for name in [sheet, *rivals])} each hold a loan tape header: name the "
            f"tape's sheet with `sheet = ...` {who}in counterparties.toml")
    table = csv_table(content, row) if file_format == CSV_FORMAT else xlsx_table(content, sheet, row)
    return table, chosen


# Cells merged over several loans: a value that names the same thing for each (its borrower, its currency) is read
# as each loan's; any other (an amount, a rate, a collateral schedule) would be one value for several loans.
_SHARED_BY_MERGE = ("as_of_date", "lender_id", "borrower_id", "borrower_name", "currency")


def _merges_resolved(table: TextTable, layout: TapeLayout) -> tuple[TextTable, list[tuple[int, str, str, str]]]:
    if not table.merged:
        return table, []
    ours_by_index = {index: ours for ours, index in column_positions(table.header, layout.columns).items()
                     if index is not None}
    rows = [list(row) for row in table.rows]
    problems = []
    for column, first, last in table.merged:  # one loop per merged range, not per row of the document
        ours = ours_by_index.get(column)
        if ours is None:
            continue
        for number in range(first + 1, last + 1):
            rows[number - 1][column] = rows[first - 1][column]
        if ours in _SHARED_BY_MERGE:
            continue
        letters = column_letters(column)
        cells = f"{letters}{table.header_row + first}:{letters}{table.header_row + last}"
        problems.extend((number, ours, cells, "merged_cell") for number in range(first, last + 1))
    return replace(table, rows=rows), problems


_TOTAL_LABEL = r"(?i)^\s*(grand\s+|sub-?\s*)?totals?\b"
_SUBTOTAL_LABEL = r"(?i)^\s*sub-?\s*totals?\b"


def _totals_checked(frame: pl.DataFrame, problems: pl.DataFrame, table: TextTable
                    ) -> tuple[pl.DataFrame, pl.DataFrame, UnreadableFile | None]:
    """The loans' rows without the totals and subtotal rows (a row labelled `Total` with no loan terms hash) and
    the one-cell notes below the totals, and the refusal of the tape when its grand total of an amount differs
    from its rows' sum (a row missing or repeated in the export)."""
    # the first cells of each row, as text: a label sits in one of them
    labels = pl.Series([next((cell for cell in row if cell), None) for row in table.rows], dtype=pl.String)
    cells_used = pl.Series([sum(cell is not None for cell in row) for row in table.rows], dtype=pl.Int64)
    marks = pl.DataFrame({
        SOURCE_ROW: pl.int_range(1, len(table.rows) + 1, eager=True, dtype=pl.Int64),
        "label": labels, "cells_used": cells_used,
    })
    frame = frame.join(marks, on=SOURCE_ROW, how="left")
    summary = (pl.col("label").str.contains(_TOTAL_LABEL) & pl.col("loan_terms_hash").is_null()).fill_null(False)
    summary_rows = frame.filter(summary)
    if summary_rows.is_empty():
        return frame.drop("label", "cells_used"), problems, None
    grand = summary_rows.filter(~pl.col("label").str.contains(_SUBTOTAL_LABEL))
    after = grand.get_column(SOURCE_ROW).min() if grand.height else None
    note = ((pl.col(SOURCE_ROW) > after) & (pl.col("cells_used") <= 1)).fill_null(False) if after is not None \
        else pl.lit(False)
    loans = frame.filter(~(summary | note))
    not_loans = frame.filter(summary | note).get_column(SOURCE_ROW)
    problems = problems.filter(~pl.col(SOURCE_ROW).is_in(not_loans.implode()))
    if grand.height:
        total = grand.row(grand.height - 1, named=True)
        for column in _USD_COLUMNS:
            stated = total[column]
            values = loans.get_column(column)
            # compared only when the total and every row's amount are plain amounts: a row's own bad value is its own
            # quarantine entry, not a mismatch of the whole tape
            if stated is None or re.fullmatch(DECIMAL_TEXT, stated) is None or values.null_count() \
                    or not values.str.contains(DECIMAL_TEXT).all():
                continue
            summed = loans.select(as_usd(column).sum()).item().quantize(_CENT)
            if summed != Decimal(stated).quantize(_CENT):
                return loans.drop("label", "cells_used"), problems, UnreadableFile(
                    "totals_mismatch", column,
                    f"the tape's total {stated} ({table.place(total[SOURCE_ROW])}) is not its rows' sum {summed}: "
                    f"a loan is missing from the tape or counted twice", loans.height)
    return loans.drop("label", "cells_used"), problems, None


_CENT = Decimal("0.01")


_NUMERIC_DATE = r"^([0-9]{1,2})[/.\-]([0-9]{1,2})[/.\-]([0-9]{4})$"
_EXCEL_SERIAL = r"^([0-9]{5})(\.[0-9]+)?$"  # 10000 to 99999: 1927-05-18 to 2173-10-14 (a 4-digit number is a year)
_MONTH_NAME_FORMATS = ("%d-%b-%Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y")
_PERCENT = r"^([0-9]+)(?:\.([0-9]+))?\s?%$"


def _normalised(frame: pl.DataFrame, layout: TapeLayout, table: TextTable) -> pl.DataFrame:
    """The lender's spelling of dates, amounts, rates and statuses in the schema's; text that does not convert
    exactly is kept as given, so the rules report the lender's own value."""
    if layout.lender_id is not None and layout.columns.get("lender_id") is None:
        frame = frame.with_columns(pl.lit(layout.lender_id).alias("lender_id"))
    frame = frame.with_columns(pl.col(column).alias(AS_WRITTEN.format(column)) for column in _READ_INTO_OUR_SPELLING)
    frame = frame.with_columns(
        *(pl.coalesce(_iso_date(pl.col(column), layout, table), pl.col(column)).alias(column) for column in _DATE_COLUMNS),
        *(pl.coalesce(_plain_amount(pl.col(column), layout.decimal_comma), pl.col(column)).alias(column)
          for column in _USD_COLUMNS),
        pl.coalesce(_rate_bps(pl.col("interest_rate_bps"), layout.rate_unit), pl.col("interest_rate_bps"))
        .alias("interest_rate_bps"),
        pl.coalesce(_percent_as_ratio(pl.col("insurance_cover_ratio")), pl.col("insurance_cover_ratio"))
        .alias("insurance_cover_ratio"),
    )
    if layout.status_values:
        frame = frame.with_columns(pl.col("status").replace(layout.status_values))
    return frame


_READ_INTO_OUR_SPELLING = (*_DATE_COLUMNS, *_USD_COLUMNS, "interest_rate_bps", "insurance_cover_ratio")


def _iso_date(text: pl.Expr, layout: TapeLayout, table: TextTable) -> pl.Expr:
    """`YYYY-MM-DD` from the lender's own format, an Excel serial (the workbook's date system; a CSV exported from
    a workbook keeps the 1900 system's), `05/01/2026` in the lender's day order, or a month name; null otherwise."""
    readings = []
    if layout.date_format is not None:
        readings.append(text.str.to_date(layout.date_format, strict=False))
    serial = text.str.extract(_EXCEL_SERIAL, 1).cast(pl.Int64, strict=False)
    readings.append(pl.when(serial.is_not_null()).then(pl.lit(table.date_epoch) + pl.duration(days=serial)))
    if layout.day_first is not None:
        parts = text.str.extract_groups(_NUMERIC_DATE)
        day, month = (parts.struct.field("1"), parts.struct.field("2"))
        if not layout.day_first:
            day, month = month, day
        readings.append(pl.concat_str(parts.struct.field("3"), month.str.zfill(2), day.str.zfill(2), separator="-")
                        .str.to_date("%Y-%m-%d", strict=False))
    readings.extend(text.str.to_date(code, strict=False) for code in _MONTH_NAME_FORMATS)
    return pl.coalesce(readings).dt.to_string("%Y-%m-%d")


def _plain_amount(text: pl.Expr, decimal_comma: bool) -> pl.Expr:
    """`$1,234,567.89`, `USD 1 234 567.89`, `(1,234.00)` (negative) as plain decimal text; null when the grouping is
    not exactly thousands (`1,5` is refused, not read as 15)."""
    body = (text.str.replace(r"^\((.*)\)$", "-$1")
            .str.replace(r"^(-?)\s*(?:US\$|\$|USD\s?|USDC\s?)", "$1")
            .str.replace(r"\s?(?:USD|USDC|USDai)$", ""))
    group, point = (r"[.\s\u00a0\u202f']", ",") if decimal_comma else (r"[,\s\u00a0\u202f']", r"\.")
    grouped = rf"^-?[0-9]{{1,3}}(?:{group}[0-9]{{3}})+(?:{point}[0-9]+)?$"
    ungrouped = rf"^-?[0-9]+(?:{point}[0-9]+)?$"
    plain = body.str.replace_all(group, "")
    if decimal_comma:
        plain = plain.str.replace(",", ".", literal=True)
    return pl.when(body.str.contains(grouped) | body.str.contains(ungrouped)).then(plain)


def _rate_bps(text: pl.Expr, unit: str) -> pl.Expr:
    """A rate as whole basis points: `12.5%` always; `12.5` where the lender writes percent, `0.125` where it
    writes a fraction. Null when it is not a whole number of basis points."""
    def scaled(pattern: str, places: int) -> pl.Expr:
        parts = text.str.extract_groups(pattern)
        whole, fraction = parts.struct.field("1"), parts.struct.field("2").fill_null("")
        exact = fraction.str.slice(places).str.contains(r"^0*$")
        digits = pl.concat_str(whole, fraction.str.slice(0, places).str.pad_end(places, "0"))
        return pl.when(parts.struct.field("1").is_not_null() & exact).then(
            digits.cast(pl.Int64, strict=False).cast(pl.String))

    readings = [scaled(_PERCENT, 2)]
    if unit == "percent":
        readings.append(scaled(r"^([0-9]+)(?:\.([0-9]+))?$", 2))
    elif unit == "fraction":
        readings.append(scaled(r"^([0-9]+)(?:\.([0-9]+))?$", 4))
    return pl.coalesce(readings)


def _percent_as_ratio(text: pl.Expr) -> pl.Expr:
    """`80%` as `0.80`, `12.5%` as `0.125`: the decimal point moved two places, no arithmetic."""
    parts = text.str.extract_groups(_PERCENT)
    whole = parts.struct.field("1").str.zfill(3)
    ratio = pl.concat_str(whole.str.head(-2), pl.lit("."), whole.str.tail(2), parts.struct.field("2").fill_null(""))
    return pl.when(parts.struct.field("1").is_not_null()).then(ratio.str.replace(r"^0+([0-9])", "$1"))


def _validate(tape: InboxFile, day: date) -> RowSplit:
    text = read_tape(tape.read_bytes(), tape.format, tape.name)
    if text.totals_mismatch is not None:
        raise text.totals_mismatch
    if text.missing:
        raise UnreadableFile("missing_column", ",".join(text.missing),
                             f"header in {text.table.place(0)}: {','.join(text.header)}"[:200], text.frame.height)
    split = split_rows(text.frame, _rules(day, tape.producer_id, text.layout), tape.name, text.problems)
    return replace(split, unexpected_columns=text.unexpected, place=DocumentPlace(text.table, dict(text.layout.columns)))


def _rules(day: date, lender_id: str, layout: TapeLayout) -> list[FieldRule]:
    collateral = pl.col("collateral")
    cover = pl.col("insurance_cover_ratio")
    waiting = pl.col("insurance_waiting_period_days")
    origination, maturity = parsed_date("origination_date"), parsed_date("maturity_date")
    # a rate in percent or as a fraction, still so after reading: finer than a basis point
    rate = pl.col("interest_rate_bps")
    inexact_rate = rate.str.contains(_PERCENT)
    if layout.rate_unit != "bps":
        inexact_rate = inexact_rate | rate.str.contains(r"^[0-9]+\.[0-9]+$")
    return [
        *(required(column) for column in LOAN_TAPE_COLUMNS if column not in _OPTIONAL_VALUES),
        *encoding_rules(LOAN_TAPE_COLUMNS),
        *_date_rules("as_of_date", layout, must_equal=day, mismatch_reason="as_of_date_mismatch"),
        *_date_rules("origination_date", layout),
        *_date_rules("maturity_date", layout),
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
        *_unless(non_negative_integer_rules("interest_rate_bps", MAX_RATE_BPS), "invalid_integer", inexact_rate),
        FieldRule("interest_rate_bps", "rate_not_whole_bps", inexact_rate),
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


def _date_rules(column: str, layout: TapeLayout, **kwargs) -> list[FieldRule]:
    """A date's rules; `05/01/2026` from a lender whose day order counterparties.toml does not give is refused as
    ambiguous, not guessed."""
    rules = date_rules(column, **kwargs)
    if layout.day_first is not None or layout.date_format is not None:
        return rules
    ambiguous = pl.col(column).str.contains(_NUMERIC_DATE)
    return [*_unless(rules, "invalid_date", ambiguous), FieldRule(column, "ambiguous_date", ambiguous)]


def _unless(rules: list[FieldRule], reason: str, other: pl.Expr) -> list[FieldRule]:
    """`rules` with the one for `reason` not broken where a more telling rule (`other`) is."""
    return [replace(rule, breaks=rule.breaks & ~other) if rule.reason == reason else rule for rule in rules]


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
