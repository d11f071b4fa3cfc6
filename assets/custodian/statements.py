"""Custodian statements → `custodian_statements`, `balance_assertions` and `custodian_statement_supersessions`.

A custodian reports in ISO 20022 (`semt.002` holdings, `camt.053` cash; assets/custodian/iso20022.py) or in its CSV
(docs/lake.md). Both are read into the same statement rows and checked by the same rules. The statement's closing
balances become balance assertions, each on its ledger account at the statement's cut-off: closing cash on 1000,
each T-bill's market value on 1010 under its CUSIP, and the holdings' total on 1010 as a whole.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

import polars as pl

from assets.inbox.counterparties import counterparties, counterparties_path
from assets.inbox.manifest import FileIngestSummary, record_input_files
from assets.inbox.register import InboxFile, Recognition, current_files, supersession_table
from assets.custodian.iso20022 import (
    HOLDINGS_MESSAGE,
    StatementMessage,
    message_of,
    read_statement_message,
    statement_page,
)
from foundation.lake import SCHEMAS, Lake
from assets.inbox.document_tables import TextTable, UnreadableFile, csv_table
from assets.inbox.row_validation import (
    SOURCE_ROW,
    FieldRule,
    RowSplit,
    as_lower_hex,
    as_usd,
    bytes32_rule,
    date_rules,
    duplicate_rule,
    encoding_rules,
    equals_rule,
    header_keys,
    most_common,
    non_negative_decimal_rules,
    parsed_date,
    required,
    split_rows,
    text_frame,
    validate_inbox_files,
    vocabulary_rule,
)

SOURCE = "custodian"
CSV_FORMAT = "custodian_csv"

STATEMENT_COLUMNS = (
    "statement_date", "cut_off_time", "custodian_id", "account_id", "record_type", "cusip",
    "security_description", "maturity_date", "par_value", "price", "market_value", "amount", "currency",
    "transaction_type", "reference",
)
RECORD_TYPES = ("opening_cash", "closing_cash", "holding", "transaction")
TRANSACTION_TYPES = ("cash_receipt", "tbill_purchase", "tbill_maturity")
STATEMENT_CURRENCIES = ("USD",)
_USD_COLUMNS = ("par_value", "price", "market_value", "amount")

# Plausibility bounds: a reserve of more than a trillion dollars, or a bill priced above twice its par, is a
# keying or unit error, not a position.
MAX_STATEMENT_USD = Decimal(10) ** 12
MAX_PRICE_PER_100 = Decimal(200)

# ISO 8601 in UTC only: a statement cut-off in another zone would silently shift the day.
_UTC_TIMESTAMP_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|\+00:00)$"

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
_DATE_IN_NAME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})")

# Ledger accounts the statement's balances are asserted on (docs/ledger.md).
CUSTODIAN_CASH_ACCOUNT, TBILLS_ACCOUNT = "1000", "1010"


def header_score(header: list[str]) -> float:
    """How well a CSV header fits the custodian statement (1.0: every column present)."""
    present = header_keys(header)
    return sum(column in present for column in STATEMENT_COLUMNS) / len(STATEMENT_COLUMNS)


def recognise(content: bytes, file_format: str, name: str) -> Recognition:
    """A statement's custodian and statement date, from its content."""
    try:
        frame, _ = _read(content, file_format, name, producer_id=None)
    except UnreadableFile as problem:
        return Recognition(SOURCE, file_format, problem=problem.reason, detail=problem.value)
    custodian_id = most_common(frame.get_column("custodian_id"))
    statement_date = most_common(frame.select(parsed_date("statement_date")).to_series())
    in_name = _DATE_IN_NAME.search(name)
    if statement_date is None and in_name:
        try:
            statement_date = date.fromisoformat(in_name.group(1))
        except ValueError:
            pass
    if custodian_id is None:
        return Recognition(SOURCE, file_format, problem="unknown_custodian", detail=_unknown_custodian(content,
                                                                                                      file_format))
    if statement_date is None:
        return Recognition(SOURCE, file_format, custodian_id, problem="no_as_of_date",
                           detail="no record carries a valid statement date, nor does the file name")
    return Recognition(SOURCE, file_format, custodian_id, statement_date,
                       document_key=_document_key(content, file_format, custodian_id,
                                                  most_common(frame.get_column("account_id")), statement_date))


def _document_key(content: bytes, file_format: str, custodian_id: str, account_id: str | None,
                  statement_date: date) -> str:
    """One statement: a custodian's report of one kind on one account for one day (and one page of it). A file
    received later with the same key is a re-sent or corrected statement and replaces the earlier one, so the day's
    cash and holdings are counted once."""
    if file_format == CSV_FORMAT:
        kind, page = "csv", None
    else:
        kind = "holdings" if file_format.startswith(HOLDINGS_MESSAGE) else "cash"
        page = statement_page(content)
    key = f"{SOURCE}:{custodian_id}:{account_id or ''}:{kind}:{statement_date.isoformat()}"
    return key if page in (None, "1") else f"{key}:page {page}"


def recognise_message(content: bytes, name: str) -> Recognition:
    """An XML statement's custodian and date, read as the ISO 20022 message it declares."""
    message = message_of(content)
    # Unrecognised: read again as plain XML, for the precise reason (wrong namespace, unsupported message).
    return recognise(content, message or "xml", name)


def ingest_custodian_day(day: date, lake: Lake) -> list[FileIngestSummary]:
    """Ingest every custodian statement of `day`; rewrites the day's partitions."""
    files, supersessions = current_files(lake, SOURCE, day)
    lake.write_table("custodian_statement_supersessions", day,
                     supersession_table("custodian_statement_supersessions", supersessions))
    validated = validate_inbox_files(lake, SOURCE, day, files, lambda statement: _validate(statement, day))
    statements = [
        _statement_rows(file.accepted, file.inbox_file) for file in validated if file.accepted is not None
    ]
    rows = pl.concat(statements) if statements else pl.from_arrow(SCHEMAS["custodian_statements"].empty_table())
    lake.write_table("custodian_statements", day, rows.to_arrow())
    assertions = [_balance_assertions(file.accepted, file.inbox_file, file.summary) for file in validated
                  if file.accepted is not None]
    lake.write_table("balance_assertions", day, pl.concat(assertions).to_arrow() if assertions
                     else SCHEMAS["balance_assertions"].empty_table())
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


def _read(content: bytes, file_format: str, name: str,
          producer_id: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The statement's rows as text in STATEMENT_COLUMNS, and problems found while reading."""
    if file_format == CSV_FORMAT:
        table = csv_table(content)
        present = header_keys(table.header)
        missing = [column for column in STATEMENT_COLUMNS if column not in present]
        frame, problems = text_frame(table, {column: column for column in STATEMENT_COLUMNS}, name)
        if missing:
            raise UnreadableFile("missing_column", ",".join(missing), ",".join(table.header)[:200], frame.height)
        return frame, problems
    message = read_statement_message(content)
    custodian_id = producer_id or _custodian_of(message)
    table = TextTable(
        header=list(STATEMENT_COLUMNS),
        rows=[[custodian_id if column == "custodian_id" else record.get(column) for column in STATEMENT_COLUMNS]
              for record in message.records],
        problems=list(message.problems),
    )
    return text_frame(table, {column: column for column in STATEMENT_COLUMNS}, name)


def _unknown_custodian(content: bytes, file_format: str) -> str:
    """What the statement says of its custodian, and where to add it."""
    where = counterparties_path()
    if file_format == CSV_FORMAT:
        return f"the statement's custodian_id names no custodian: add it under [custodians] in {where}"
    message = read_statement_message(content)
    if message.servicer_bic is None:
        return (f"the {message.message} names no account servicer BIC (Acct/Svcr or AcctSvcr): add the custodian "
                f"with its BIC under [custodians] in {where}")
    return (f"the account servicer BIC {message.servicer_bic} of the {message.message} is no custodian's: add "
            f"[custodians.<id>] with bic = \"{message.servicer_bic}\" to {where}")


def _custodian_of(message: StatementMessage) -> str | None:
    """Our id of the custodian whose BIC services the account (11-character BICs match their 8-character form)."""
    if message.servicer_bic is None:
        return None
    wanted = message.servicer_bic.upper().removesuffix("XXX")
    for custodian_id, spec in counterparties().get("custodians", {}).items():
        if str(spec.get("bic", "")).upper().removesuffix("XXX") == wanted:
            return custodian_id
    return None


def _validate(statement: InboxFile, day: date) -> RowSplit:
    frame, problems = _read(statement.read_bytes(), statement.format, statement.name, statement.producer_id)
    return split_rows(frame, _rules(day, custodian_id=statement.producer_id), statement.name, problems)


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
        *encoding_rules(STATEMENT_COLUMNS),
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
        *(rule for column in ("par_value", "market_value", "amount")
          for rule in non_negative_decimal_rules(column, MAX_STATEMENT_USD)),
        *non_negative_decimal_rules("price", MAX_PRICE_PER_100),
        # One position, balance or transaction reported twice: neither copy is trusted.
        duplicate_rule(["account_id", "cusip"], "duplicate_holding", when=is_holding),
        duplicate_rule(["account_id", "record_type"], "duplicate_balance", when=is_cash_balance),
        duplicate_rule(["account_id", "transaction_type", "reference"], "duplicate_transaction", when=is_transaction),
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


def _balance_assertions(accepted: pl.DataFrame, statement: InboxFile, summary: FileIngestSummary) -> pl.DataFrame:
    """Closing cash on 1000, each holding on 1010 under its CUSIP, and the holdings' total on 1010 as a whole: the
    custodian's own total when its message states one, else the sum of the statement's holdings when none of them
    was quarantined (a partial sum would assert a wrong balance)."""
    rows = _statement_rows(accepted, statement)
    common = [pl.col("cut_off_time").alias("asserted_at")]
    lineage = [pl.col("source_file"), pl.col("source_sha256"), pl.col(SOURCE_ROW)]
    cash = rows.filter(pl.col("record_type") == "closing_cash").select(
        *common, pl.lit(CUSTODIAN_CASH_ACCOUNT).alias("account_code"), pl.lit("").alias("sub_account"),
        "amount", "currency", "custodian_id", "account_id", pl.lit("closing_cash").alias("basis"), *lineage,
    )
    holdings = rows.filter(pl.col("record_type") == "holding").select(
        *common, pl.lit(TBILLS_ACCOUNT).alias("account_code"), pl.col("cusip").alias("sub_account"),
        pl.col("market_value").alias("amount"), "currency", "custodian_id", "account_id",
        pl.lit("holding").alias("basis"), *lineage,
    )
    frames = [cash, holdings]
    stated = _stated_holdings_total(statement)
    holdings_document = statement.format.startswith(HOLDINGS_MESSAGE) or holdings.height > 0
    complete = summary.rows_quarantined == 0
    if rows.height and holdings_document and (stated is not None or complete):
        held = pl.col("market_value").filter(pl.col("record_type") == "holding")
        frames.append(rows.select(
            pl.col("cut_off_time").max().alias("asserted_at"),
            pl.lit(TBILLS_ACCOUNT).alias("account_code"),
            pl.lit(None, pl.String).alias("sub_account"),
            (pl.lit(stated, pl.Decimal(38, 18)) if stated is not None else held.sum().cast(pl.Decimal(38, 18)))
            .alias("amount"),
            pl.col("currency").first(),
            pl.col("custodian_id").first(),
            pl.col("account_id").first(),
            pl.lit("stated_holdings_total" if stated is not None else "holdings_total").alias("basis"),
            pl.col("source_file").first(),
            pl.col("source_sha256").first(),
            pl.lit(0, pl.Int64).alias(SOURCE_ROW),
        ))
    return pl.concat(frames)


def _stated_holdings_total(statement: InboxFile) -> Decimal | None:
    if not statement.format.startswith(HOLDINGS_MESSAGE):
        return None
    text = read_statement_message(statement.read_bytes()).stated_holdings_total
    try:
        return Decimal(text) if text is not None else None
    except InvalidOperation:
        return None
