"""What a source of the lake declares about itself. Each source's package builds one `Source`; the registry
(`assets.sources`) lists them, and intake, `backed ingest`, the jobs, the Definitions and the docs' tests read it.
"""
from __future__ import annotations

import csv

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from assets.inbox.manifest import FileIngestSummary
from assets.inbox.register import Recognition
from foundation.lake import Lake

# How surely a file's first bytes name its format, in the order intake asks:
# - SIGNATURE: an unmistakable start (a ZIP container, an XML document, a JSON object per line);
# - HEADER: a CSV header that holds enough of a layout's columns (the claim is the share present; the best wins);
# - FALLBACK: a looser text shape, asked only when nothing above claimed the file.
SIGNATURE, HEADER, FALLBACK = "signature", "header", "fallback"
STAGES = (SIGNATURE, HEADER, FALLBACK)

# The problem a file's recogniser reports when the file's samples carry no time and its name gives none (a raw
# scrape): intake retries it under a name carrying the scrape time it was told (`backed ingest --scraped-at`).
NO_SCRAPE_TIME = "no_scrape_time"
# A file holding several documents that are each their own (statements of different days, accounts or messages in one
# envelope): intake separates it with its format's `separate` and takes each part in as a file of its own.
SEVERAL_DOCUMENTS = "several_messages"

# Every ingestion asset retries a failed day a few times: an RPC node or a file share that is briefly away.
INGEST_RETRY = dg.RetryPolicy(max_retries=3, delay=5, backoff=dg.Backoff.EXPONENTIAL)


@dataclass(frozen=True)
class FileHead:
    """The start of a dropped file, as intake reads it to tell formats apart."""

    data: bytes
    text: str  # decoded as UTF-8 (bad bytes replaced), without a byte order mark
    csv_header: list[str]  # the first line read as CSV cells, stripped; empty when it is not one

    def csv_lines(self, limit: int) -> list[list[str]]:
        """The first `limit` lines read as CSV cells, stripped: a title block may sit above a document's header."""
        rows = []
        for line in self.text.splitlines()[:limit]:
            try:
                rows.append([cell.strip() for cell in next(csv.reader([line]), [])])
            except csv.Error:
                rows.append([])
        return rows


@dataclass(frozen=True)
class FileRecogniser:
    """One file format of a source: how strongly a file's start claims it (0: not this format), and how the file's
    content names its producer and its day."""

    format: str
    stage: str
    claim: Callable[[FileHead], float]
    recognise: Callable[[Path, str], Recognition]  # (the file, the name it arrived under)
    # The documents of a file recognised as holding several (SEVERAL_DOCUMENTS), each whole on its own; empty when it
    # cannot be separated.
    separate: Callable[[bytes], list[bytes]] | None = None


@dataclass(frozen=True)
class Source:
    """A source of the lake: where its data comes from, how its files are recognised and a day of them read, the
    lake tables it writes and the Dagster assets that write them."""

    name: str  # as recorded on its receipts, quarantine folders and manifest rows
    group: str  # the Dagster asset group of its assets
    description: str
    lake_tables: tuple[str, ...]
    assets: tuple[dg.AssetsDefinition, ...]
    recognisers: tuple[FileRecogniser, ...] = ()  # none: the source does not come through the inbox
    # Rebuilds the source's lake tables of one day from the files routed to it (taken in beforehand).
    ingest_day: Callable[[date, Lake], list[FileIngestSummary]] | None = None


@dataclass(frozen=True)
class DerivedTable:
    """A lake table built from other sources' tables of the same day, rebuilt whenever one of them is."""

    name: str
    from_sources: Sequence[str]
    build_day: Callable[[date, Lake], object]
