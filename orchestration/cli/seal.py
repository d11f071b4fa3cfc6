"""`backed seal YYYY-MM`: fix the month's daily attestations once every day of it is attested."""
from __future__ import annotations

import re
from datetime import date

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


@click.command()
@click.argument("month")
@click.pass_context
def seal(ctx: click.Context, month: str) -> None:
    """Seal MONTH (YYYY-MM): each day's attestation stays as it is. Later restatements that reach a sealed day are
    still posted, and reported as post-seal adjustments in the next monthly report; re-attesting a sealed day is
    refused. Sealing again changes nothing."""
    import duckdb

    from assets.attestation.seals import SealRefused, seal_month

    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise click.BadParameter(f"{month!r} is not a month (YYYY-MM)", param_hint="MONTH")
    first = date.fromisoformat(month + "-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    home = data_home(ctx)
    if not home.warehouse.exists():
        raise click.ClickException(f"no ledger in {home.root}: run `backed demo` or `backed backfill` first")
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        cursor = con.execute("select * from main.journal_chain_recomputed where partition_date >= ? and "
                             "partition_date < ? order by partition_date", [first, last])
        columns = [d[0] for d in cursor.description]
        days = [dict(zip(columns, row)) for row in cursor.fetchall()]
    try:
        sealed, written = seal_month(home, month, days)
    except SealRefused as error:
        raise click.ClickException(str(error)) from None
    console_of(ctx).say(f"{month} {'sealed' if written else 'was already sealed'} at {sealed['sealed_at']}: "
                        f"{len(sealed['days'])} attested days ({home.seal(month)})")
