"""`backed seal YYYY-MM`: fix the month's daily attestations once every day of it is attested."""
from __future__ import annotations

import re
from datetime import date, timedelta

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

    from assets.attestation.journal_chain import chain_through, first_break
    from assets.attestation.seals import SealRefused, seal_month

    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise click.BadParameter(f"{month!r} is not a month (YYYY-MM)", param_hint="MONTH")
    first = date.fromisoformat(month + "-01")
    last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    home = data_home(ctx)
    if not home.warehouse.exists():
        raise click.ClickException(f"no ledger in {home.root}: run `backed demo` or `backed backfill` first")
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        # every day through the month: a month's chain hashes commit to every earlier day's lines
        through = chain_through(con, last - timedelta(days=1))
    # a day of the month whose lines changed is seal_month's to name, with the month's other problems
    broken = first_break(through)
    if broken is not None and (broken[0]["partition_date"] < first or broken[1] == "chain"):
        row, what = broken
        found = ("its lines no longer hash to what the ledger's build stored" if what == "lines"
                 else "the stored hash chain does not link at it")
        raise click.ClickException(f"{month} cannot be sealed: the journal of {row['partition_date']} does not "
                                   f"hold ({found}): restore the warehouse from the lake (`backed backfill`)")
    days = [row for row in through if row["partition_date"] >= first]
    try:
        sealed, written = seal_month(home, month, days)
    except SealRefused as error:
        raise click.ClickException(str(error)) from None
    console_of(ctx).say(f"{month} {'sealed' if written else 'was already sealed'} at {sealed['sealed_at']}: "
                        f"{len(sealed['days'])} attested days ({home.seal(month)})")
