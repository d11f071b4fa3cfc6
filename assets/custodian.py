"""Custodian statements (`inbox/custodian/<custodian_id>-<YYYY-MM-DD>.csv`) → `custodian_statements`."""

from __future__ import annotations

from datetime import date

import polars as pl

from assets.inbox import FileIngestSummary, InboxFile, files_of_day, record_input_files
from assets.lake import SCHEMAS, Lake
from assets.row_validation import (
    SOURCE_ROW,
    FieldRule,
    RowSplit,
    as_lower_hex,
    as_usd,
    bytes32_rule,
    date_rules,
    equals_rule,
    non_negative_decimal_rules,
    parsed_date,
    read_csv_as_text,
    required,
    split_rows,
    validate_inbox_files,
    vocabulary_rule,
)

SOURCE = "custodian"

STATEMENT_COLUMNS = (
    "statement_date", "cut_off_time", "custodian_id", "account_id", "record_type", "cusip",
    "security_description", "maturity_date", "par_value", "price", "market_value", "amount", "currency",
    "transaction_type", "reference",
)
RECORD_TYPES = ("opening_cash", "closing_cash", "holding", "transaction")
TRANSACTION_TYPES = ("cash_receipt", "tbill_purchase", "tbill_maturity")
STATEMENT_CURRENCIES = ("USD",)
_USD_COLUMNS = ("par_value", "price", "market_value", "amount")

# ISO 8601 in UTC only: a statement cut-off in another zone would silently shift the day.
_UTC_TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$"

# CUSIP check digit (the "modulus 10 double add double" rule): character values 0-9, A=10 … Z=35,
# `*`=36, `@`=37, `#`=38; every second character of the first eight is doubled; digits of each product
# are summed; the check digit brings the total to a multiple of ten.
_CUSIP_TEXT = r"^[0-9A-Z*@#]{8}[0-9]$"
_CUSIP_CHARACTER_VALUES = {
    **{str(digit): digit for digit in range(10)},
    **{chr(ord("A") + offset): 10 + offset for offset in range(26)},
    "*": 36,
    "@": 37,
    "#": 38,
}


def ingest_custodian_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """Ingest every custodian statement of `day` in the inbox; rewrites the day's partition."""
    validated = validate_inbox_files(
        lake, SOURCE, day, files_of_day(lake, SOURCE, day, "csv"), lambda statement: _validate(statement, day)
    )
    statements = [
        _statement_rows(file.accepted, file.inbox_file) for file in validated if file.accepted is not None
    ]
    rows = pl.concat(statements).to_arrow() if statements else SCHEMAS["custodian_statements"].empty_table()
    lake.write_table("custodian_statements", day, rows)
    summaries = [file.summary for file in validated]
    record_input_files(lake, day, SOURCE, summaries)
    return summaries


def cusip_check_digit_holds(cusip: pl.Expr) -> pl.Expr:
    """True where a well-formed CUSIP carries the right check digit (null where it is not well-formed)."""
    text = cusip.str.to_uppercase()
    total = pl.lit(0)
    for position in range(8):
        value = text.str.slice(position, 1).replace_strict(_CUSIP_CHARACTER_VALUES, default=0, return_dtype=pl.Int32)
        if position % 2 == 1:
            value = value * 2
        total = total + value // 10 + value % 10
    check_digit = (10 - total % 10) % 10
    return pl.when(text.str.contains(_CUSIP_TEXT)).then(
        check_digit == text.str.slice(8, 1).cast(pl.Int32, strict=False)
    )


def _validate(statement: InboxFile, day: date) -> RowSplit:
    frame = read_csv_as_text(statement, STATEMENT_COLUMNS)
    return split_rows(frame, _rules(day, custodian_id=statement.producer_id), statement.name)


def _rules(day: date, custodian_id: str) -> list[FieldRule]:
    record_type = pl.col("record_type")
    transaction_type = pl.col("transaction_type")
    is_holding = record_type == "holding"
    is_transaction = record_type == "transaction"
    is_tbill_transaction = is_transaction & transaction_type.is_in(["tbill_purchase", "tbill_maturity"])
    is_cash_balance = record_type.is_in(["opening_cash", "closing_cash"])
    cusip = pl.col("cusip")
    return [
        *(
            required(column)
            for column in ("statement_date", "cut_off_time", "custodian_id", "account_id", "record_type", "currency")
        ),
        *date_rules("statement_date", must_equal=day, mismatch_reason="statement_date_mismatch"),
        *date_rules("maturity_date"),
        FieldRule("cut_off_time", "invalid_timestamp", _parsed_cut_off().is_null() & pl.col("cut_off_time").is_not_null()),
        equals_rule("custodian_id", custodian_id, "custodian_id_mismatch"),
        vocabulary_rule("record_type", RECORD_TYPES, "unknown_record_type"),
        vocabulary_rule("currency", STATEMENT_CURRENCIES, "unknown_currency"),
        *(required(column, when=is_holding) for column in ("cusip", "maturity_date", "par_value", "price", "market_value")),
        required("amount", when=is_cash_balance | is_transaction),
        required("transaction_type", when=is_transaction),
        FieldRule("transaction_type", "unknown_transaction_type", is_transaction & ~transaction_type.is_in(TRANSACTION_TYPES)),
        *(required(column, when=is_tbill_transaction) for column in ("cusip", "par_value")),
        FieldRule("cusip", "invalid_cusip", cusip.is_not_null() & ~cusip.str.to_uppercase().str.contains(_CUSIP_TEXT)),
        FieldRule("cusip", "cusip_check_digit", ~cusip_check_digit_holds(cusip)),
        required("reference", when=is_transaction & (transaction_type == "cash_receipt")),
        FieldRule(
            "reference",
            "invalid_tx_hash",
            (is_transaction & (transaction_type == "cash_receipt"))
            & bytes32_rule("reference", "").breaks,
        ),
        *(rule for column in _USD_COLUMNS for rule in non_negative_decimal_rules(column)),
    ]


def _parsed_cut_off() -> pl.Expr:
    text = pl.col("cut_off_time")
    naive = text.str.replace(r"(Z|\+00:00)$", "")
    return pl.when(text.str.contains(_UTC_TIMESTAMP_TEXT)).then(
        naive.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=False)
    )


def _statement_rows(accepted: pl.DataFrame, statement: InboxFile) -> pl.DataFrame:
    is_cash_receipt = pl.col("transaction_type") == "cash_receipt"
    return accepted.select(
        parsed_date("statement_date").alias("statement_date"),
        _parsed_cut_off().alias("cut_off_time"),
        "custodian_id",
        "account_id",
        "record_type",
        pl.col("cusip").str.to_uppercase().alias("cusip"),
        "security_description",
        parsed_date("maturity_date").alias("maturity_date"),
        *(as_usd(column).alias(column) for column in _USD_COLUMNS),
        "currency",
        "transaction_type",
        # A tx hash is lowercased like every bytes32 in the lake; trade ids are kept as given.
        pl.when(is_cash_receipt).then(as_lower_hex("reference")).otherwise(pl.col("reference")).alias("reference"),
        pl.lit(statement.name).alias("source_file"),
        pl.lit(statement.sha256).alias("source_sha256"),
        SOURCE_ROW,
    )
