"""`backed ingest PATH...`: take files in as the inbox sensor does and ingest the days they are about, printing per
file its source, partition, rows accepted and rows quarantined with the reasons.

A file already in the inbox is moved into the archive; a file elsewhere is copied and left where it is. The lake
is rebuilt for each day a file was routed to; the ledger is not (run the day's pipeline, or let the sensor do it).
Exit status 1 when a file could not be taken in at all (unrecognised, unsafe, undated, dated in the future).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestration.cli.parameters import data_home

# Quarantine messages printed per file; the quarantine file holds them all.
MESSAGES_PER_FILE = 10


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Take in PATH... (files, or directories of files): recognise, deduplicate, archive, and ingest their days."""
    from assets.inbox.intake import take_in_paths
    from assets.inbox.register import DUPLICATE, ROUTED, current_files
    from assets.sources import DERIVED_TABLES, source
    from foundation.lake import Lake

    lake = Lake(data_home(ctx))
    results = take_in_paths(lake, paths)
    days = sorted({(r.source, r.partition) for r in results if r.status == ROUTED})
    summaries = {}
    for name, day in days:
        for summary in source(name).ingest_day(day, lake):
            summaries[(name, day, summary.sha256)] = summary
    for derived in DERIVED_TABLES:
        for day in sorted({day for name, day in days if name in derived.from_sources}):
            derived.build_day(day, lake)

    refused = False
    for result in results:
        recognition = result.recognition
        if result.status == DUPLICATE:
            click.echo(f"{result.file_name}: duplicate of {recognition.detail} ({recognition.source}, partition "
                       f"{result.partition}): not ingested again")
            continue
        if result.status != ROUTED:
            refused = True
            click.echo(f"{result.file_name}: rejected, {recognition.problem}: {recognition.detail} "
                       f"(archived at {result.archive_path.relative_to(lake.home.root)})")
            continue
        summary = summaries.get((result.source, result.partition, result.sha256))
        if summary is None:
            # routed, but a later file of the same document (a corrected tape) replaces it
            click.echo(f"{result.file_name}: {result.source} ({recognition.format}), partition {result.partition}: "
                       "superseded by a later file of the same document, not ingested")
            continue
        click.echo(f"{result.file_name}: {result.source} ({recognition.format}), partition {result.partition}, "
                   f"{summary.rows_accepted} rows accepted, {summary.rows_quarantined} quarantined")
        _, supersessions = current_files(lake, result.source, result.partition)
        for supersession in supersessions:
            if supersession.superseding.sha256 == result.sha256:
                click.echo(f"    supersedes {supersession.superseded.name} "
                           f"(received {supersession.superseded.received_at:%Y-%m-%d %H:%M:%S})")
        for reason, count in summary.reasons.items():
            click.echo(f"    {reason}: {count}")
        for message in summary.messages[:MESSAGES_PER_FILE]:
            click.echo(f"    {message}")
    if refused:
        sys.exit(1)
