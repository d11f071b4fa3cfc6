"""The lake: one Parquet file per table per UTC day, the contract between ingestion and dbt.

Every table of docs/lake.md is declared once in `SCHEMAS`. Writes are atomic (temp file in the same
directory, then `os.replace`) and byte-reproducible: the same rows always give the same bytes, because the
attestation hashes its inputs and a re-run must not change them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import time
from glob import escape as glob_escape
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from foundation.home import DataHome

RAW_AMOUNT = pa.decimal128(38, 0)
USD = pa.decimal128(38, 18)
TIMESTAMP = pa.timestamp("us")

CHAIN_EVENT_ARGUMENT_FIELDS: tuple[pa.Field, ...] = (
    *(
        pa.field(name, pa.string())
        for name in (
            "from_address", "to_address", "caller", "recipient", "deposit_token", "withdraw_token",
            "account", "sender", "owner", "receiver", "controller", "currency_token", "borrower",
            "lender", "spender", "operator", "pool", "fee_model",
        )
    ),
    *(
        pa.field(name, RAW_AMOUNT)
        for name in (
            "value", "deposit_amount", "mint_amount", "usdai_amount", "withdraw_amount", "assets",
            "shares", "fulfilled_shares", "amount", "pending_shares", "deposited_amount", "admin_fee",
            "usdai_deposit_amount", "admin_fee_amount", "principal", "origination_fee", "interest",
            "prepay", "prepayment", "exit_fee", "proceeds", "liquidation_fee", "surplus", "fee",
            "expiration", "interest_rate", "pool_currency_amount",
        )
    ),
    pa.field("token_id", pa.string()),
    pa.field("request_id", pa.string()),
    pa.field("redemption_id", pa.string()),
    pa.field("tick", pa.string()),
    pa.field("tranche_index", pa.int32()),
    pa.field("fee_kind", pa.int32()),
    *(
        pa.field(name, pa.string())
        for name in (
            "loan_terms_hash", "old_loan_terms_hash", "new_loan_terms_hash", "new_loan_terms",
            "encoded_bundle",
        )
    ),
    *(
        pa.field(name, pa.bool_())
        for name in ("is_blacklisted", "all_redemptions_serviced", "is_repaid", "approved")
    ),
)

_BLOCK_FIELDS = (
    pa.field("block_number", pa.int64()),
    pa.field("block_hash", pa.string()),
    pa.field("block_time", TIMESTAMP),
)

_FILE_LINEAGE_FIELDS = (
    pa.field("source_file", pa.string()),
    pa.field("source_sha256", pa.string()),
    pa.field("source_row", pa.int64()),
)

# Which file replaced which, and when: the same in every table that records supersessions.
_SUPERSESSION_FIELDS = (
    pa.field("superseded_file", pa.string()),
    pa.field("superseded_sha256", pa.string()),
    pa.field("superseded_received_at", TIMESTAMP),
    pa.field("superseding_file", pa.string()),
    pa.field("superseding_sha256", pa.string()),
    pa.field("superseded_at", TIMESTAMP),
)

SCHEMAS: dict[str, pa.Schema] = {
    "chain_events": pa.schema([
        pa.field("partition_date", pa.date32()),
        *_BLOCK_FIELDS,
        pa.field("tx_hash", pa.string()),
        pa.field("log_index", pa.int32()),
        pa.field("contract_address", pa.string()),
        pa.field("contract_role", pa.string()),
        pa.field("event", pa.string()),
        pa.field("signature", pa.string()),
        pa.field("topic0", pa.string()),
        pa.field("model", pa.string()),
        pa.field("arguments", pa.string()),
        *CHAIN_EVENT_ARGUMENT_FIELDS,
    ]),
    "chain_logs_unknown": pa.schema([
        pa.field("partition_date", pa.date32()),
        *_BLOCK_FIELDS,
        pa.field("tx_hash", pa.string()),
        pa.field("log_index", pa.int32()),
        pa.field("contract_address", pa.string()),
        pa.field("contract_role", pa.string()),
        pa.field("topic0", pa.string()),
        pa.field("topics", pa.string()),
        pa.field("data", pa.string()),
    ]),
    "chain_state": pa.schema([
        pa.field("partition_date", pa.date32()),
        *_BLOCK_FIELDS,
        pa.field("contract_role", pa.string()),
        pa.field("contract_address", pa.string()),
        pa.field("method", pa.string()),
        pa.field("key", pa.string()),
        pa.field("field", pa.string()),
        pa.field("value", RAW_AMOUNT),
    ]),
    "chain_days": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("chain_id", pa.int64()),
        pa.field("profile", pa.string()),
        pa.field("from_block", pa.int64()),
        pa.field("to_block", pa.int64()),
        pa.field("to_block_hash", pa.string()),
        pa.field("to_block_time", TIMESTAMP),
        pa.field("state_block", pa.int64()),
        pa.field("state_block_hash", pa.string()),
        pa.field("log_count", pa.int64()),
    ]),
    "chain_blocks": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("block_number", pa.int64()),
        pa.field("block_hash", pa.string()),
        pa.field("parent_hash", pa.string()),
        pa.field("block_time", TIMESTAMP),
    ]),
    "chain_reorgs": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("reorg_id", pa.string()),
        pa.field("detected_at", TIMESTAMP),
        pa.field("fork_block", pa.int64()),
        pa.field("common_block", pa.int64()),
        pa.field("depth", pa.int64()),
        pa.field("affected_days", pa.string()),
        pa.field("action", pa.string()),
        pa.field("block_number", pa.int64()),
        pa.field("old_hash", pa.string()),
        pa.field("new_hash", pa.string()),
    ]),
    "chain_address_book": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("role", pa.string()),
        pa.field("address", pa.string()),
        pa.field("is_protocol", pa.bool_()),
        pa.field("token_symbol", pa.string()),
        pa.field("token_decimals", pa.int32()),
        pa.field("interface", pa.string()),
    ]),
    "loan_tapes": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("as_of_date", pa.date32()),
        pa.field("lender_id", pa.string()),
        pa.field("loan_id", pa.string()),
        pa.field("loan_terms_hash", pa.string()),
        pa.field("borrower_id", pa.string()),
        pa.field("borrower_name", pa.string()),
        pa.field("currency", pa.string()),
        pa.field("original_principal", USD),
        pa.field("principal_outstanding", USD),
        pa.field("accrued_interest", USD),
        pa.field("daily_interest", USD),
        pa.field("interest_rate_bps", pa.int32()),
        pa.field("status", pa.string()),
        pa.field("days_past_due", pa.int32()),
        pa.field("origination_date", pa.date32()),
        pa.field("maturity_date", pa.date32()),
        *_FILE_LINEAGE_FIELDS,
        pa.field("insurance_cover_ratio", USD),
        pa.field("insurance_waiting_period_days", pa.int32()),
    ]),
    "loan_collateral": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("lender_id", pa.string()),
        pa.field("loan_terms_hash", pa.string()),
        pa.field("nft_token_id", pa.string()),
        pa.field("gpu_serial", pa.string()),
        *_FILE_LINEAGE_FIELDS,
        pa.field("gpu_uuid", pa.string()),
    ]),
    "loan_tape_supersessions": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("lender_id", pa.string()),
        pa.field("as_of_date", pa.date32()),
        *_SUPERSESSION_FIELDS,
    ]),
    "custodian_statement_supersessions": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("custodian_id", pa.string()),
        pa.field("statement_date", pa.date32()),
        pa.field("document_key", pa.string()),
        *_SUPERSESSION_FIELDS,
    ]),
    "collateral_gpu_daily": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("lender_id", pa.string()),
        pa.field("loan_terms_hash", pa.string()),
        pa.field("nft_token_id", pa.string()),
        pa.field("gpu_serial", pa.string()),
        pa.field("gpu_uuid", pa.string()),
        pa.field("reporting", pa.bool_()),
        pa.field("samples", pa.int64()),
        pa.field("minutes_online", pa.float64()),
        pa.field("util_mean", pa.float64()),
        pa.field("util_p95", pa.float64()),
        pa.field("temp_max", pa.float64()),
        pa.field("power_mean", pa.float64()),
        pa.field("xid_error_samples", pa.int64()),
        pa.field("last_seen", TIMESTAMP),
        *_FILE_LINEAGE_FIELDS,
        pa.field("telemetry_source_file", pa.string()),
        pa.field("telemetry_source_sha256", pa.string()),
    ]),
    "gpu_telemetry_daily": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("gpu_uuid", pa.string()),
        pa.field("gpu_serial", pa.string()),
        pa.field("hostname", pa.string()),
        pa.field("model_name", pa.string()),
        pa.field("samples", pa.int64()),
        pa.field("scrape_interval_s", pa.int64()),
        pa.field("minutes_online", pa.float64()),
        pa.field("util_mean", pa.float64()),
        pa.field("util_p95", pa.float64()),
        pa.field("temp_max", pa.float64()),
        pa.field("power_mean", pa.float64()),
        pa.field("xid_error_samples", pa.int64()),
        pa.field("first_seen", TIMESTAMP),
        pa.field("last_seen", TIMESTAMP),
        pa.field("source_file", pa.string()),
        pa.field("source_sha256", pa.string()),
        pa.field("xid_errors", pa.int64()),
    ]),
    "gpu_inventory": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("gpu_uuid", pa.string()),
        pa.field("gpu_serial", pa.string()),
        pa.field("model_name", pa.string()),
        *_FILE_LINEAGE_FIELDS,
    ]),
    "custodian_statements": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("statement_date", pa.date32()),
        pa.field("cut_off_time", TIMESTAMP),
        pa.field("custodian_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("record_type", pa.string()),
        pa.field("cusip", pa.string()),
        pa.field("security_description", pa.string()),
        pa.field("maturity_date", pa.date32()),
        pa.field("par_value", USD),
        pa.field("price", USD),
        pa.field("market_value", USD),
        pa.field("amount", USD),
        pa.field("currency", pa.string()),
        pa.field("transaction_type", pa.string()),
        pa.field("reference", pa.string()),
        *_FILE_LINEAGE_FIELDS,
    ]),
    "balance_assertions": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("asserted_at", TIMESTAMP),
        pa.field("account_code", pa.string()),
        pa.field("sub_account", pa.string()),
        pa.field("amount", USD),
        pa.field("currency", pa.string()),
        pa.field("custodian_id", pa.string()),
        pa.field("account_id", pa.string()),
        pa.field("basis", pa.string()),
        *_FILE_LINEAGE_FIELDS,
    ]),
    "input_files": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("source", pa.string()),
        pa.field("file_name", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("rows_in", pa.int64()),
        pa.field("rows_accepted", pa.int64()),
        pa.field("rows_quarantined", pa.int64()),
        pa.field("format", pa.string()),
        pa.field("quarantine_reasons", pa.string()),
        pa.field("unexpected_columns", pa.string()),
    ]),
    "inbox_receipts": pa.schema([
        pa.field("partition_date", pa.date32()),
        pa.field("received_at", TIMESTAMP),
        pa.field("file_name", pa.string()),
        pa.field("sha256", pa.string()),
        pa.field("size_bytes", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("source", pa.string()),
        pa.field("format", pa.string()),
        pa.field("producer_id", pa.string()),
        pa.field("as_of_date", pa.date32()),
        pa.field("document_key", pa.string()),
        pa.field("archive_path", pa.string()),
        pa.field("problem", pa.string()),
        pa.field("problem_detail", pa.string()),
    ]),
}

# A unique key per table, so that sorting by it fixes the row order of the written file.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "chain_events": ("block_number", "log_index"),
    "chain_logs_unknown": ("block_number", "log_index"),
    "chain_state": ("contract_role", "contract_address", "method", "key", "field"),
    "chain_days": ("partition_date",),
    "chain_blocks": ("block_number",),
    "chain_reorgs": ("reorg_id", "block_number"),
    "chain_address_book": ("role", "address"),
    "loan_tapes": ("source_file", "source_sha256", "source_row"),
    "loan_collateral": ("source_file", "source_sha256", "source_row", "nft_token_id", "gpu_serial", "gpu_uuid"),
    "loan_tape_supersessions": ("lender_id", "superseded_at", "superseded_sha256"),
    "collateral_gpu_daily": ("lender_id", "loan_terms_hash", "nft_token_id", "gpu_serial", "gpu_uuid"),
    "gpu_telemetry_daily": ("source_file", "source_sha256", "gpu_uuid"),
    "gpu_inventory": ("source_file", "source_sha256", "source_row"),
    "custodian_statements": ("source_file", "source_sha256", "source_row"),
    "balance_assertions": ("source_file", "source_sha256", "source_row", "account_code", "sub_account"),
    "custodian_statement_supersessions": ("document_key", "superseded_at", "superseded_sha256"),
    "input_files": ("source", "file_name", "sha256"),
    "inbox_receipts": ("received_at", "sha256", "file_name", "status"),
}

QUARANTINE_SCHEMA = pa.schema([
    pa.field("source_file", pa.string()),
    pa.field("source_row", pa.int64()),
    pa.field("field", pa.string()),
    pa.field("value", pa.string()),
    pa.field("reason", pa.string()),
])
_QUARANTINE_SORT_KEY = ("source_file", "source_row", "field", "reason")

# Pinned so that the bytes depend on the rows only (no dictionary pages whose presence depends on the
# data's cardinality, no creation time; pyarrow writes none).
_PARQUET_WRITER_SETTINGS = dict(
    compression="zstd",
    compression_level=3,
    use_dictionary=False,
    write_statistics=True,
    version="2.6",
    data_page_version="1.0",
    row_group_size=1_000_000,
    write_page_index=False,
    write_page_checksum=False,
    store_schema=True,
)


class LakeSchemaError(ValueError):
    """Rows handed to the lake do not fit the declared table."""


class Lake:
    """The lake of one data home, and its quarantine."""

    def __init__(self, home: DataHome | os.PathLike | str) -> None:
        self.home = DataHome.of(home)
        self.root = self.home.lake

    def __repr__(self) -> str:
        return f"Lake({str(self.home)!r})"

    def partition_dir(self, table: str, day: date) -> Path:
        _schema_of(table)
        return self.root / table / f"date={day.isoformat()}"

    def partition_path(self, table: str, day: date) -> Path:
        return self.partition_dir(table, day) / "part-0.parquet"

    def write_table(self, table: str, day: date, table_data: pa.Table) -> Path:
        """Replace the day's partition of `table` with `table_data` (cast to the declared schema).

        `partition_date` is filled in when absent; when present it must equal `day` on every row. An empty
        day is still written (0 rows): dbt globs every day and needs each file to carry the schema.
        """
        schema = _schema_of(table)
        rows = _with_partition_date(table_data, day, table)
        rows = _conform(rows, schema, table)
        rows = rows.sort_by([(key, "ascending") for key in SORT_KEYS[table]])
        path = self.partition_path(table, day)
        _write_parquet_atomically(rows, path)
        return path

    def read_table(self, table: str, day: date) -> pa.Table | None:
        """The day's partition of `table`, None when there is none; LakeFileCorrupted when its bytes are not the
        ones written."""
        path = self.partition_path(table, day)
        if not path.exists():
            return None
        return pq.read_table(verified(path), schema=_schema_of(table))

    def corrupted_partitions(self) -> list[LakeFileCorrupted]:
        """Every partition of every table whose bytes are not the ones recorded when it was written."""
        found = []
        for table in SCHEMAS:
            for day in self.partition_days(table):
                try:
                    verified(self.partition_path(table, day))
                except LakeFileCorrupted as corrupted:
                    found.append(corrupted)
        return found

    def remove_partition(self, table: str, day: date) -> None:
        """Withdraw the day's partition of `table` (its data is known to be wrong and cannot be rebuilt yet)."""
        self.partition_path(table, day).unlink(missing_ok=True)

    def conform_partitions(self) -> dict[str, int]:
        """Give every partition of every table its declared schema; returns the files rewritten, by table.

        The warehouse reads each table as one glob without unifying schemas file by file (DuckDB's union_by_name
        reads every file's footer at every query: a cost that grows with the history) and prunes the days by the
        `date=` folder. Reading that way binds on the first file's schema: a column that file lacks would be
        silently dropped from every later file, a column a later file lacks stops the query. So before the
        warehouse reads, a table whose declared schema changed since its files were written (a marker file keeps
        the schema they were all checked against), or whose first file does not carry it, has every file that
        differs rewritten with the columns it lacks as nulls. Otherwise this reads one footer per table."""
        rewritten: dict[str, int] = {}
        for table, schema in SCHEMAS.items():
            days = self.partition_days(table)
            if not days:
                continue
            marker = self.root / table / SCHEMA_MARKER
            fingerprint = _schema_fingerprint(schema)
            if _carries(self.partition_path(table, days[0]), schema) and marker.exists() \
                    and marker.read_text() == fingerprint:
                continue
            count = 0
            for day in days:
                if _carries(self.partition_path(table, day), schema):
                    continue
                with self.partition_lock(table, day):
                    rows = pq.read_table(verified(self.partition_path(table, day)))
                    self.write_table(table, day, _with_null_columns(rows, schema, table))
                count += 1
            write_text_atomically(marker, fingerprint)
            if count:
                rewritten[table] = count
        return rewritten

    def partition_days(self, table: str) -> list[date]:
        """Days that have a partition of `table`, in order."""
        _schema_of(table)
        table_dir = self.root / table
        if not table_dir.is_dir():
            return []
        days = []
        for child in table_dir.iterdir():
            if child.name.startswith("date=") and (child / "part-0.parquet").exists():
                days.append(date.fromisoformat(child.name.removeprefix("date=")))
        return sorted(days)

    def quarantine_path(self, source: str, day: date, file_name: str, sha256: str) -> Path:
        """The file's hash is in the name: two different files may arrive under one name on one day."""
        return self.home.quarantine / source / f"date={day.isoformat()}" / quarantine_file_name(file_name, sha256)

    def write_quarantine(self, source: str, day: date, file_name: str, sha256: str, rejected: pa.Table) -> Path | None:
        """Replace the rejected rows of one inbox file; no rejects removes an earlier run's file."""
        path = self.quarantine_path(source, day, file_name, sha256)
        rows = _conform(rejected, QUARANTINE_SCHEMA, "quarantine")
        if rows.num_rows == 0:
            path.unlink(missing_ok=True)
            return None
        rows = rows.sort_by([(key, "ascending") for key in _QUARANTINE_SORT_KEY])
        _write_parquet_atomically(rows, path)
        return path

    def remove_stale_quarantine(self, source: str, day: date, keep: set[tuple[str, str]]) -> None:
        """Drop the day's rejects of files that are no longer part of the day (`keep`: (file name, sha256))."""
        directory = self.home.quarantine / source / f"date={day.isoformat()}"
        if not directory.is_dir():
            return
        kept = {quarantine_file_name(name, sha256) for name, sha256 in keep}
        for path in directory.glob("*.rejected.parquet"):
            if path.name not in kept:
                path.unlink(missing_ok=True)

    def read_quarantine(self, source: str, day: date, file_name: str, sha256: str) -> pa.Table | None:
        path = self.quarantine_path(source, day, file_name, sha256)
        return pq.read_table(path, schema=QUARANTINE_SCHEMA) if path.exists() else None

    def rejected_file_quarantine_path(self, received_day: date, file_name: str, sha256: str) -> Path:
        """Where a file that could not be routed to a day (unrecognised, no as-of date, ...) leaves its reason."""
        return (self.home.quarantine / "rejected_files" / f"date={received_day.isoformat()}"
                / quarantine_file_name(file_name, sha256))

    def write_rejected_file(self, received_day: date, file_name: str, sha256: str, rejected: pa.Table) -> Path:
        path = self.rejected_file_quarantine_path(received_day, file_name, sha256)
        rows = _conform(rejected, QUARANTINE_SCHEMA, "quarantine")
        _write_parquet_atomically(rows.sort_by([(key, "ascending") for key in _QUARANTINE_SORT_KEY]), path)
        return path

    @contextlib.contextmanager
    def partition_lock(self, table: str, day: date) -> Iterator[None]:
        """Serialise read-modify-write of one partition across processes (this machine only)."""
        directory = self.partition_dir(table, day)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / ".lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


def quarantine_file_name(file_name: str, sha256: str) -> str:
    return f"{file_name}.{sha256[:12]}.rejected.parquet"


def _schema_of(table: str) -> pa.Schema:
    try:
        return SCHEMAS[table]
    except KeyError:
        raise LakeSchemaError(f"unknown lake table {table!r}") from None


def _with_partition_date(rows: pa.Table, day: date, table: str) -> pa.Table:
    if "partition_date" not in rows.column_names:
        return rows.append_column("partition_date", pa.array([day] * rows.num_rows, pa.date32()))
    dates = rows.column("partition_date").cast(pa.date32())
    if rows.num_rows and (dates.null_count or not pc.all(pc.equal(dates, pa.scalar(day, pa.date32()))).as_py()):
        raise LakeSchemaError(f"{table}: rows whose partition_date is not {day.isoformat()}")
    return rows


def _conform(rows: pa.Table, schema: pa.Schema, table: str) -> pa.Table:
    missing = [name for name in schema.names if name not in rows.column_names]
    extra = [name for name in rows.column_names if name not in schema.names]
    if missing or extra:
        raise LakeSchemaError(f"{table}: missing columns {missing}, unexpected columns {extra}")
    try:
        conformed = rows.select(schema.names).cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LakeSchemaError(f"{table}: rows do not fit the declared schema: {exc}") from exc
    return conformed.replace_schema_metadata(None).combine_chunks()


# In lake/<table>/: the fingerprint of the declared schema every partition of the table was found to carry.
SCHEMA_MARKER = "_schema.sha256"


def _schema_fingerprint(schema: pa.Schema) -> str:
    return hashlib.sha256(schema.remove_metadata().to_string().encode()).hexdigest()


def _carries(path: Path, schema: pa.Schema) -> bool:
    return pq.read_schema(path).remove_metadata().equals(schema.remove_metadata())


def _with_null_columns(rows: pa.Table, schema: pa.Schema, table: str) -> pa.Table:
    """`rows` of a partition written before columns were added to its table, with those columns as nulls: a
    column added to a lake table is nullable (docs/lake.md); one that is not cannot be made up."""
    for field in schema:
        if field.name not in rows.column_names:
            if not field.nullable:
                raise LakeSchemaError(f"{table}: a partition lacks the non-nullable column {field.name}")
            rows = rows.append_column(field, pa.nulls(rows.num_rows, field.type))
    return rows


def write_text_atomically(path: Path, text: str) -> None:
    """`text` in `path`, all or nothing: a reader sees the old file or the new one, never a part."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bytes_atomically(path: Path, content: bytes) -> None:
    """`content` in `path` (its folder made when missing), all or nothing: a reader sees the old file or the new
    one, never a part; a write that fails (the disk full) leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    # what a writer of the same file killed before its rename left (its process is gone)
    for left in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        pid = left.name[len(path.name) + 2:-len(".tmp")]
        if pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                left.unlink()


def process_alive(pid: int) -> bool:
    """Whether a process `pid` exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Each Parquet file of the lake has its sha256 beside it (`.part-0.parquet.sha256`), recorded when it was written and
# checked before it is read: a file changed afterwards (a bit flipped on disk, a hand edit, a restore that mixed
# versions) is known before a wrong amount reaches the ledger. Hidden, so that whatever reads a partition's folder as a
# dataset (pyarrow, Spark, pandas skip names starting with `.`) reads the Parquet file alone.
def digest_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.sha256")


def file_sha256(path: Path) -> str:
    with path.open("rb") as source:
        return hashlib.file_digest(source, "sha256").hexdigest()


class LakeFileCorrupted(RuntimeError):
    """A lake file whose bytes are not the ones recorded when it was written."""

    def __init__(self, path: Path, recorded: str, found: str) -> None:
        super().__init__(f"{path}: its sha256 is {found[:16]}…, not the {recorded[:16]}… recorded when it was "
                         "written: the file changed after it was written")
        self.path, self.recorded, self.found = path, recorded, found


def verified(path: Path) -> Path:
    """`path`, once its bytes are the ones recorded when it was written (a file written before digests were
    recorded gets its digest now); raises LakeFileCorrupted otherwise."""
    found = file_sha256(path)
    recorded_at = digest_path(path)
    if not recorded_at.exists():
        write_text_atomically(recorded_at, found)
        return path
    recorded = recorded_at.read_text().strip()
    if recorded != found:
        raise LakeFileCorrupted(path, recorded, found)
    return path


def _write_parquet_atomically(rows: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w+b") as sink:
            pq.write_table(rows, sink, **_PARQUET_WRITER_SETTINGS)
            sink.flush()
            os.fsync(sink.fileno())
            sink.seek(0)
            digest = hashlib.file_digest(sink, "sha256").hexdigest()
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    # After the file: a crash between the two leaves a new file beside its old digest, which the next read takes for
    # a changed file and the day is ingested again (the same bytes), never a changed file taken for a good one.
    write_text_atomically(digest_path(path), digest)
    _remove_abandoned_temporaries(path)


# A writer killed between its fsync and its rename leaves its temporary behind (readers never see it: they read
# part-0.parquet only). One this old is no live writer's: a partition is written in seconds.
ABANDONED_TEMPORARY_AGE_S = 3600


def _remove_abandoned_temporaries(path: Path) -> None:
    cutoff = time.time() - ABANDONED_TEMPORARY_AGE_S
    for temporary in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if temporary.stat().st_mtime < cutoff:
                temporary.unlink()
