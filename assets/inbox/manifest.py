"""The day's manifest of ingested files (`input_files`): for each file of an off-chain source, its hash, rows in,
accepted and quarantined, and why rows were held back.

The manifest is one table per day shared by the off-chain sources: each source replaces its own rows and keeps the
others', under a lock, so sources can ingest the same day concurrently on one machine.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from foundation.lake import SCHEMAS, Lake
from foundation.partitions import window_days


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
    format: str = ""
    # "<file>: row <n>, field <field>: <reason> (value ...)" for the first rejected entries.
    messages: tuple[str, ...] = ()
    unexpected_columns: tuple[str, ...] = ()


def record_input_files(lake: Lake, day: date, source: str, summaries: list[FileIngestSummary]) -> None:
    """Replace `source`'s rows of the day's `input_files`, keeping the other sources' rows.

    All of the source's earlier rows go, not only the re-ingested files' ones: a superseded file must also leave the
    manifest.
    """
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
                "format": pa.array([summary.format for summary in summaries], pa.string()),
                "quarantine_reasons": pa.array([_reason_text(summary.reasons) for summary in summaries], pa.string()),
                "unexpected_columns": pa.array([",".join(summary.unexpected_columns) for summary in summaries],
                                               pa.string()),
            }
        )
        fresh = fresh.cast(SCHEMAS["input_files"])
        merged = fresh if existing is None else pa.concat_tables([existing, fresh])
        lake.write_table("input_files", day, merged)


def _reason_text(reasons: dict[str, int]) -> str:
    """`reason=count` pairs, most frequent first: what a file's quarantined rows broke, for its manifest row."""
    return ", ".join(f"{reason}={count}" for reason, count in sorted(reasons.items(), key=lambda rc: (-rc[1], rc[0])))


def ingest_window(context: dg.AssetExecutionContext, lake: Lake,
                  ingest_day: Callable[[date, Lake], list[FileIngestSummary]]) -> dict:
    """Ingest every day of the run's window in order with a source's `ingest_day`, log each file, and return what
    the asset reports on its materialisation."""
    summaries = [summary for day in window_days(context) for summary in ingest_day(day, lake)]
    _log_ingested_files(context, summaries)
    return _ingest_metadata(summaries)


def _ingest_metadata(summaries: list[FileIngestSummary]) -> dict:
    """What an ingestion asset reports on its materialisation: files, rows in, accepted, quarantined, and why."""
    quarantined: dict[str, int] = {}
    for summary in summaries:
        for reason, count in summary.reasons.items():
            quarantined[reason] = quarantined.get(reason, 0) + count
    return {
        "files": len(summaries),
        "rows_in": sum(s.rows_in for s in summaries),
        "rows_accepted": sum(s.rows_accepted for s in summaries),
        "rows_quarantined": sum(s.rows_quarantined for s in summaries),
        "quarantine_reasons": dg.MetadataValue.json(quarantined),
    }


def _log_ingested_files(context: dg.AssetExecutionContext, summaries: list[FileIngestSummary]) -> None:
    """One line per file ingested, and its first quarantine messages."""
    for s in summaries:
        context.log.info(f"{s.source} {s.partition} {s.file_name} ({s.format}): {s.rows_accepted} accepted, "
                         f"{s.rows_quarantined} quarantined {s.reasons or ''}")
        for message in s.messages[:5]:
            context.log.warning(message)
