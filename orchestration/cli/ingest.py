"""`backed ingest PATH...`: take files in as the inbox sensor does and ingest the days they are about, printing per
file its source, partition, rows accepted and rows quarantined with the reasons.

A file already in the inbox is moved into the archive; a file elsewhere is copied and left where it is. The lake
is rebuilt for each day a file was routed to; the ledger is not (run the day's pipeline, or let the sensor do it).
Exit status 1 when a file could not be taken in at all (unrecognised, unsafe, undated, dated in the future).
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from orchestration.cli.parameters import data_home

# Quarantine messages printed per file; the quarantine file holds them all.
MESSAGES_PER_FILE = 10


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--scraped-at", "scraped_at", metavar="TIME", default=None,
              help="UTC time a raw dcgm-exporter scrape (no sample timestamps) was taken, for files whose names do "
                   "not carry it, e.g. 2026-01-05T12:00:00Z")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], scraped_at: str | None) -> None:
    """Take in PATH... (files, or directories of files): recognise, deduplicate, archive, and ingest their days."""
    from assets.inbox.intake import WAITING, take_in_paths
    from assets.inbox.register import DUPLICATE, ROUTED, SPLIT, current_files
    from dagster import AssetKey

    from assets.inbox.assets import INPUT_FILES
    from assets.sources import DERIVED_TABLES, source
    from foundation.lake import Lake

    lake = Lake(data_home(ctx))
    results = take_in_paths(lake, paths, scraped_at=_utc_time(scraped_at) if scraped_at else None)
    days = sorted({(r.source, r.partition) for r in results if r.status == ROUTED})
    summaries = {}
    for name, day in days:
        for summary in source(name).ingest_day(day, lake):
            summaries[(name, day, summary.sha256)] = summary
    rebuilt = {(key, day) for name, day in days for assets_def in source(name).assets for key in assets_def.keys}
    # each source's ingest also rewrites the day's manifest of ingested files, which the attestation's inputs and
    # R11's inputs hash read
    rebuilt |= {(INPUT_FILES.key, day) for _, day in days}
    for derived in DERIVED_TABLES:
        for day in sorted({day for name, day in days if name in derived.from_sources}):
            derived.build_day(day, lake)
            rebuilt.add((AssetKey(derived.name), day))
    _record_on_instance(lake.home, rebuilt)

    refused = False
    for result in results:
        recognition = result.recognition
        if result.status == DUPLICATE:
            click.echo(f"{result.file_name}: duplicate of {recognition.detail} ({recognition.source}, partition "
                       f"{result.partition}): not ingested again")
            continue
        if result.status == SPLIT:
            click.echo(f"{result.file_name}: {recognition.detail}")
            continue
        if result.status == WAITING:
            refused = True
            click.echo(f"{result.file_name}: not taken in, {recognition.detail}; run `backed ingest` again once it "
                       "is complete")
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


def _record_on_instance(home, rebuilt: set) -> None:
    """Record each lake partition rebuilt here as a materialisation on the Dagster instance (what the UI shows, and
    what `backed backfill --select` compares to find the models built before it)."""
    import dagster as dg

    from orchestration.instance import instance_for

    instance = instance_for(home)
    for key, day in sorted(rebuilt):
        instance.report_runless_asset_event(dg.AssetMaterialization(
            key, partition=day.isoformat(), description="rebuilt by `backed ingest` from the files it took in"))


def _utc_time(text: str) -> datetime:
    """An ISO 8601 time in UTC (`Z` or `+00:00`; a time without a zone is taken as UTC), naive UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time such as 2026-01-05T12:00:00Z",
                                 param_hint="--scraped-at") from None
    if moment.tzinfo is not None:
        if moment.utcoffset() != timedelta(0):
            raise click.BadParameter(f"{text!r} is not in UTC: give the time in UTC (…Z)", param_hint="--scraped-at")
        moment = moment.replace(tzinfo=None)
    return moment
