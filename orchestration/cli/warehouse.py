"""`backed warehouse rebuild`: a warehouse that cannot be opened, built again (orchestration/warehouse_rebuild.py)."""
from __future__ import annotations

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


@click.group("warehouse")
def warehouse_group() -> None:
    """The warehouse file (warehouse.duckdb) itself."""


@warehouse_group.command("rebuild")
@click.pass_context
def rebuild(ctx: click.Context) -> None:
    """Build the warehouse again when it cannot be opened: the journal and the exceptions (with people's decisions)
    from the last published snapshot, everything else from the lake, every day it holds. The damaged file is kept
    beside the new one, renamed."""
    from orchestration.warehouse_rebuild import rebuild_warehouse

    console = console_of(ctx)
    home = data_home(ctx)
    with console.quiet("backed warehouse rebuild"):
        rebuilt = rebuild_warehouse(home, say=console.say)
    restored = (f"{rebuilt.journal_lines_restored} restored from the snapshot"
                if rebuilt.journal_lines_restored is not None else "posted afresh")
    console.say(f"warehouse rebuilt for {rebuilt.first} .. {rebuilt.last}: {rebuilt.journal_lines} journal lines "
                f"({restored}); the checks compared the journal with every attested day")
