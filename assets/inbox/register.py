"""The inbox: what arrived, what it is, where it went.

Files dropped anywhere under `inbox/` are taken in by `assets.inbox.intake`: recognised by their content, hashed, moved
into `inbox/archive/` under their sha256 (never deleted) and recorded in the `inbox_receipts` register, one row per
file received. A day's ingest reads the register, not the drop folder: the files routed to the day are the day.

This module holds the register and the archive layout, and the day's current files (a corrected loan tape or a
re-sent statement supersedes the one it replaces).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from foundation.lake import SCHEMAS, Lake, write_text_atomically

# Receipt statuses: routed to a day's partition, the same bytes as a file received before, or refused whole.
ROUTED, DUPLICATE, REJECTED, SPLIT = "routed", "duplicate", "rejected", "split"

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Recognition:
    """What a file is, read from its content; `problem` (a reason code) when it cannot be routed to a day."""

    source: str | None = None
    format: str | None = None
    producer_id: str | None = None
    as_of_date: date | None = None
    # Files with the same key are versions of one document: the one received last is current.
    document_key: str | None = None
    problem: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class InboxFile:
    """A file taken in and routed to a day: its archived copy and what its content said it is."""

    path: Path
    name: str  # the name it arrived under: the lineage name (`source_file`) of its rows
    sha256: str
    size_bytes: int
    source: str
    format: str
    producer_id: str
    as_of_date: date
    received_at: datetime
    document_key: str | None = None

    def read_bytes(self) -> bytes:
        """The archived bytes, checked against the hash they were received with."""
        content = self.path.read_bytes()
        if hashlib.sha256(content).hexdigest() != self.sha256:
            raise ArchiveTampered(f"{self.path} no longer has the sha256 {self.sha256} it was received with")
        return content


class ArchiveTampered(RuntimeError):
    """An archived file's bytes changed after it was received: the lake must not be rebuilt from it."""


@dataclass(frozen=True)
class Supersession:
    """`superseded` was replaced by `superseding`, a later file of the same document (e.g. a corrected tape)."""

    superseded: InboxFile
    superseding: InboxFile


# What a supersession row can say, by the column names of the tables that record them (foundation/lake.py).
_SUPERSESSION_COLUMNS = {
    "lender_id": lambda s: s.superseded.producer_id,
    "custodian_id": lambda s: s.superseded.producer_id,
    "as_of_date": lambda s: s.superseded.as_of_date,
    "statement_date": lambda s: s.superseded.as_of_date,
    "document_key": lambda s: s.superseded.document_key,
    "superseded_file": lambda s: s.superseded.name,
    "superseded_sha256": lambda s: s.superseded.sha256,
    "superseded_received_at": lambda s: s.superseded.received_at,
    "superseding_file": lambda s: s.superseding.name,
    "superseding_sha256": lambda s: s.superseding.sha256,
    "superseded_at": lambda s: s.superseding.received_at,
}


def supersession_table(table: str, supersessions: list[Supersession]) -> pa.Table:
    """The lake table `table` recording `supersessions`: which file replaced which, and when (one row each)."""
    schema = SCHEMAS[table]
    columns = [name for name in schema.names if name != "partition_date"]
    return pa.table({name: pa.array([_SUPERSESSION_COLUMNS[name](s) for s in supersessions], schema.field(name).type)
                     for name in columns})


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- the archive and the register -------------------------------------------------------------------------------

def archive_path(lake: Lake, status: str, name: str, sha256: str, source: str | None, day: date) -> Path:
    """`archive/<source>/<as-of day>/<sha256>-<name>` for routed files; duplicates, files split into their documents
    and rejected files apart."""
    if status == ROUTED:
        folder = lake.home.archive / source / day.isoformat()
    elif status == DUPLICATE:
        folder = lake.home.archive / "duplicates"
    elif status == SPLIT:
        folder = lake.home.archive / "split" / day.isoformat()
    else:
        folder = lake.home.archive / "rejected" / day.isoformat()
    return folder / f"{sha256}-{name}"


# How much earlier than its last write a register file's modification time may read: some file systems keep whole
# seconds, FAT even seconds only.
_MTIME_GRANULARITY_S = 2.0


def read_receipts(lake: Lake, received_after: datetime | None = None) -> pl.DataFrame:
    """Every receipt of every day (the register is small: one row per file received), read in one pass: a year of
    days read one file at a time costs a second on every intake.

    With `received_after` (naive UTC, like `received_at`), the receipts received after it. A receipt is filed under
    the day its file is about, any day of the history, but it is written after it is received: only the days whose
    register file was written since are read, not the whole history at every sensor tick."""
    paths = [lake.partition_path("inbox_receipts", day) for day in lake.partition_days("inbox_receipts")]
    if received_after is not None:
        since = received_after.replace(tzinfo=timezone.utc).timestamp() - _MTIME_GRANULARITY_S
        paths = [path for path in paths if path.stat().st_mtime >= since]
    if not paths:
        return pl.from_arrow(SCHEMAS["inbox_receipts"].empty_table())
    receipts = pl.from_arrow(pq.read_table([str(path) for path in paths], schema=SCHEMAS["inbox_receipts"]))
    return receipts if received_after is None else receipts.filter(pl.col("received_at") > received_after)


# The routed files by content: `lake/inbox_receipts/_routed/<sha256[:2]>/<sha256>` holds the day of the file's routed
# receipt. Intake recognises a re-sent file by looking its sha256 up here, one small file, instead of reading every
# day of the register (whose size grows with the history). A marker is written before its receipt, so every routed
# receipt has one; a marker whose day holds no routed receipt of that sha256 (intake stopped between the two) is
# not a receipt, and the file is routed again. `.complete` marks an index built for every receipt of the register:
# a register from before the index is indexed once, on first use.
_ROUTED_INDEX = "_routed"


def _routed_index(lake: Lake) -> Path:
    return lake.root / "inbox_receipts" / _ROUTED_INDEX


def _routed_marker(lake: Lake, sha256: str) -> Path:
    return _routed_index(lake) / sha256[:2] / sha256


def record_routed(lake: Lake, sha256: str, day: date) -> None:
    """Mark `sha256` as routed to `day`; called before its receipt is appended."""
    marker = _routed_marker(lake, sha256)
    marker.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(marker, day.isoformat())


def routed_receipt(lake: Lake, sha256: str) -> dict | None:
    """The first routed receipt of a file with this sha256, or None when no file with these bytes was routed."""
    _index_register_once(lake)
    marker = _routed_marker(lake, sha256)
    if not marker.is_file():
        return None
    receipts = lake.read_table("inbox_receipts", date.fromisoformat(marker.read_text().strip()))
    if receipts is None:
        return None
    rows = (pl.from_arrow(receipts).filter((pl.col("status") == ROUTED) & (pl.col("sha256") == sha256))
            .sort("received_at"))
    return rows.row(0, named=True) if rows.height else None


def _index_register_once(lake: Lake) -> None:
    complete = _routed_index(lake) / ".complete"
    if complete.is_file():
        return
    routed = read_receipts(lake).filter(pl.col("status") == ROUTED).sort("received_at").unique("sha256", keep="first")
    for sha256, day in routed.select("sha256", "partition_date").iter_rows():  # one row per file ever routed, once
        record_routed(lake, sha256, day)
    complete.parent.mkdir(parents=True, exist_ok=True)
    complete.touch()


def append_receipts(lake: Lake, receipts: pl.DataFrame) -> None:
    """Add receipts to their days' partitions of the register; earlier receipts are never changed."""
    for (day,), rows in receipts.partition_by("partition_date", as_dict=True).items():
        with lake.partition_lock("inbox_receipts", day):
            existing = lake.read_table("inbox_receipts", day)
            fresh = rows.to_arrow().cast(SCHEMAS["inbox_receipts"])
            lake.write_table("inbox_receipts", day, fresh if existing is None else pa.concat_tables([existing, fresh]))


def open_register_day(lake: Lake, day: date) -> None:
    """Give `day` a partition of the register, empty when nothing was routed to it yet; receipts already filed stay."""
    with lake.partition_lock("inbox_receipts", day):
        if not lake.partition_path("inbox_receipts", day).exists():
            lake.write_table("inbox_receipts", day, SCHEMAS["inbox_receipts"].empty_table())


def routed_files(lake: Lake, source: str, day: date) -> list[InboxFile]:
    """Every file routed to `source` on `day`, current or superseded, in the order received."""
    receipts = lake.read_table("inbox_receipts", day)
    if receipts is None:
        return []
    rows = (
        pl.from_arrow(receipts)
        .filter((pl.col("status") == ROUTED) & (pl.col("source") == source))
        .sort("received_at", "file_name", "sha256")
    )
    return [
        InboxFile(
            path=lake.home.root / row["archive_path"],
            name=row["file_name"],
            sha256=row["sha256"],
            size_bytes=row["size_bytes"],
            source=row["source"],
            format=row["format"],
            producer_id=row["producer_id"],
            as_of_date=row["as_of_date"],
            received_at=row["received_at"],
            document_key=row["document_key"],
        )
        for row in rows.iter_rows(named=True)  # one row per file, not per data row
    ]


def current_files(lake: Lake, source: str, day: date) -> tuple[list[InboxFile], list[Supersession]]:
    """The day's files of `source` that make up the day, and which later file replaced each of the others.

    Files sharing a document key are versions of one document (a lender's tape of one as-of date, a custodian's
    statement of one account and day): the one received last is current and each earlier one is superseded by the
    version received right after it. Files without a key (telemetry scrapes) all count.
    """
    received = routed_files(lake, source, day)
    versions: dict[str, list[InboxFile]] = {}
    for inbox_file in received:
        if inbox_file.document_key is not None:
            versions.setdefault(inbox_file.document_key, []).append(inbox_file)
    supersessions = [
        Supersession(earlier, later)
        for chain in versions.values()
        for earlier, later in zip(chain, chain[1:])
    ]
    superseded = {supersession.superseded.sha256 for supersession in supersessions}
    return [f for f in received if f.sha256 not in superseded], supersessions
