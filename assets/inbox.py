"""Files dropped in the inbox, and the day's manifest of them (`input_files`).

The manifest is one table per day shared by the off-chain sources: each source replaces its own rows
and keeps the others', under a lock, so sources can ingest the same day concurrently on this machine.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from assets.lake import SCHEMAS, Lake

OFFCHAIN_SOURCES = ("loan_tapes", "telemetry", "custodian")


@dataclass(frozen=True)
class InboxFile:
    """One inbox file named `<producer_id>-<YYYY-MM-DD>.<ext>`, read once."""

    path: Path
    producer_id: str
    content: bytes
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size_bytes(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class FileIngestSummary:
    source: str
    file_name: str
    sha256: str
    partition: date
    rows_in: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int] = field(default_factory=dict)
    size_bytes: int = 0


def files_of_day(lake: Lake, source: str, day: date, extension: str) -> list[InboxFile]:
    """The day's files of one source, by name, e.g. `inbox/loan_tapes/<lender_id>-2026-01-05.csv`."""
    directory = lake.inbox / source
    if not directory.is_dir():
        return []
    name_pattern = re.compile(rf"^(?P<producer>.+)-{re.escape(day.isoformat())}\.{re.escape(extension)}$")
    files = []
    for path in sorted(directory.iterdir()):
        matched = name_pattern.match(path.name)
        if matched and path.is_file():
            content = path.read_bytes()
            files.append(
                InboxFile(
                    path=path,
                    producer_id=matched.group("producer"),
                    content=content,
                    sha256=hashlib.sha256(content).hexdigest(),
                )
            )
    return files


def record_input_files(lake: Lake, day: date, source: str, summaries: list[FileIngestSummary]) -> None:
    """Replace `source`'s rows of the day's `input_files`, keeping the other sources' rows.

    All of the source's earlier rows go, not only the re-ingested files' ones: a file taken out of the
    inbox must also leave the manifest.
    """
    if source not in OFFCHAIN_SOURCES:
        raise ValueError(f"unknown off-chain source {source!r}")
    for summary in summaries:
        if summary.source != source or summary.partition != day:
            raise ValueError(f"summary of {summary.file_name} is not {source} on {day.isoformat()}")
    with lake.partition_lock("input_files", day):
        existing = lake.read_table("input_files", day)
        if existing is not None:
            existing = existing.filter(pc.not_equal(existing.column("source"), source))
        fresh = pa.table(
            {
                "partition_date": pa.array([day] * len(summaries), pa.date32()),
                "source": [summary.source for summary in summaries],
                "file_name": [summary.file_name for summary in summaries],
                "sha256": [summary.sha256 for summary in summaries],
                "size_bytes": pa.array([summary.size_bytes for summary in summaries], pa.int64()),
                "rows_in": pa.array([summary.rows_in for summary in summaries], pa.int64()),
                "rows_accepted": pa.array([summary.rows_accepted for summary in summaries], pa.int64()),
                "rows_quarantined": pa.array([summary.rows_quarantined for summary in summaries], pa.int64()),
            }
        )
        fresh = fresh.cast(SCHEMAS["input_files"])
        merged = fresh if existing is None else pa.concat_tables([existing, fresh])
        lake.write_table("input_files", day, merged)

