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

from orchestration.resources import default_home

# Quarantine messages printed per file; the quarantine file holds them all.
MESSAGES_PER_FILE = 10


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Take in PATH... (files, or directories of files): recognise, deduplicate, archive, and ingest their days."""
    from assets.custodian import ingest_custodian_day
    from assets.inbox import DUPLICATE, ROUTED, current_files
    from assets.intake import take_in_paths
    from assets.lake import Lake
    from assets.loan_tapes import ingest_loan_tapes_day
    from assets.telemetry import ingest_telemetry_day, join_collateral_telemetry

    home = (ctx.obj or {}).get("home") or default_home()
    lake = Lake(home)
    results = take_in_paths(lake, paths)
    ingesters = {"loan_tapes": ingest_loan_tapes_day, "telemetry": ingest_telemetry_day,
                 "custodian": ingest_custodian_day}
    days = sorted({(r.source, r.partition) for r in results if r.status == ROUTED})
    summaries = {}
    for source, day in days:
        for summary in ingesters[source](day, lake):
            summaries[(source, day, summary.sha256)] = summary
    for day in sorted({day for source, day in days if source in ("loan_tapes", "telemetry")}):
        join_collateral_telemetry(day, lake)

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
                       f"(archived at {result.archive_path.relative_to(lake.home)})")
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
