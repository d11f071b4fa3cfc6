"""Lenders' loan tapes (`inbox/loan_tapes/<lender_id>-<YYYY-MM-DD>.csv`) → `loan_tapes` and `loan_collateral`."""

from __future__ import annotations

from datetime import date

import polars as pl
import pyarrow as pa

from assets.inbox import FileIngestSummary, InboxFile, files_of_day, record_input_files
from assets.lake import SCHEMAS, Lake
from assets.row_validation import (
    SOURCE_ROW,
    FieldRule,
    RowSplit,
    as_integer,
    as_lower_hex,
    as_usd,
    bytes32_rule,
    date_rules,
    equals_rule,
    non_negative_decimal_rules,
    non_negative_integer_rules,
    parsed_date,
    read_csv_as_text,
    required,
    split_rows,
    validate_inbox_files,
    vocabulary_rule,
)

SOURCE = "loan_tapes"

LOAN_TAPE_COLUMNS = (
    "as_of_date", "lender_id", "loan_id", "loan_terms_hash", "borrower_id", "borrower_name", "currency",
    "original_principal", "principal_outstanding", "accrued_interest", "daily_interest",
    "interest_rate_bps", "status", "days_past_due", "origination_date", "maturity_date", "collateral",
)
LOAN_STATUSES = ("current", "delinquent", "default", "repaid", "liquidated")
LOAN_CURRENCIES = ("USDC",)
_USD_COLUMNS = ("original_principal", "principal_outstanding", "accrued_interest", "daily_interest")
_INTEGER_COLUMNS = ("interest_rate_bps", "days_past_due")
_OPTIONAL_COLUMNS = ("borrower_name", "collateral")

# Collateral schedule: `<nft_token_id>=<gpu_serial>[|<gpu_serial>...]` entries joined by `;`.
# The shape is checked first so that a wrong serial is told apart from a garbled schedule.
_TOKEN_ID = r"(0|[1-9]\d*)"
_COLLATERAL_SHAPE = rf"^{_TOKEN_ID}=[^;=|]+(\|[^;=|]+)*(;{_TOKEN_ID}=[^;=|]+(\|[^;=|]+)*)*$"
_COLLATERAL_TEXT = rf"^{_TOKEN_ID}=\d{{13}}(\|\d{{13}})*(;{_TOKEN_ID}=\d{{13}}(\|\d{{13}})*)*$"


def ingest_loan_tapes_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """Ingest every loan tape of `day` in the inbox; rewrites the day's partitions."""
    validated = validate_inbox_files(
        lake, SOURCE, day, files_of_day(lake, SOURCE, day, "csv"), lambda tape: _validate(tape, day)
    )
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
    summaries = [file.summary for file in validated]
    record_input_files(lake, day, SOURCE, summaries)
    return summaries


def _validate(tape: InboxFile, day: date) -> RowSplit:
    frame = read_csv_as_text(tape, LOAN_TAPE_COLUMNS)
    return split_rows(frame, _rules(day, lender_id=tape.producer_id), tape.name)


def _rules(day: date, lender_id: str) -> list[FieldRule]:
    collateral = pl.col("collateral")
    loan_terms_hash = as_lower_hex("loan_terms_hash")
    rules = [
        *(required(column) for column in LOAN_TAPE_COLUMNS if column not in _OPTIONAL_COLUMNS),
        *date_rules("as_of_date", must_equal=day, mismatch_reason="as_of_date_mismatch"),
        *date_rules("origination_date"),
        *date_rules("maturity_date"),
        equals_rule("lender_id", lender_id, "lender_id_mismatch"),
        bytes32_rule("loan_terms_hash", "invalid_loan_terms_hash"),
        # Two rows for one loan make the tape ambiguous: neither is trusted.
        FieldRule("loan_terms_hash", "duplicate_loan", loan_terms_hash.is_duplicated() & loan_terms_hash.is_not_null()),
        vocabulary_rule("status", LOAN_STATUSES, "unknown_status"),
        vocabulary_rule("currency", LOAN_CURRENCIES, "unknown_currency"),
        *(rule for column in _USD_COLUMNS for rule in non_negative_decimal_rules(column)),
        *(rule for column in _INTEGER_COLUMNS for rule in non_negative_integer_rules(column)),
        FieldRule("collateral", "invalid_collateral", ~collateral.str.contains(_COLLATERAL_SHAPE)),
        FieldRule(
            "collateral",
            "invalid_gpu_serial",
            collateral.str.contains(_COLLATERAL_SHAPE) & ~collateral.str.contains(_COLLATERAL_TEXT),
        ),
    ]
    return rules


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
        *(as_integer(column).alias(column) for column in _INTEGER_COLUMNS),
        "status",
        parsed_date("origination_date").alias("origination_date"),
        parsed_date("maturity_date").alias("maturity_date"),
        *lineage,
        SOURCE_ROW,
    )


def _collateral_rows(accepted: pl.DataFrame, lineage: list[pl.Expr]) -> pl.DataFrame:
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
            pl.col("entry").str.split_exact("=", 1).struct.rename_fields(["nft_token_id", "gpu_serials"])
        )
        .unnest("entry")
        .with_columns(pl.col("gpu_serials").str.split("|").alias("gpu_serial"))
        .explode("gpu_serial")
        .select("lender_id", "loan_terms_hash", "nft_token_id", "gpu_serial", *lineage, SOURCE_ROW)
    )


def _concat_or_empty(frames: list[pl.DataFrame], table: str) -> pa.Table:
    return pl.concat(frames).to_arrow() if frames else SCHEMAS[table].empty_table()
