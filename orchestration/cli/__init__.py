"""The `backed` command line: one module per command, the shared parameters in `parameters`."""
from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.attest import attest
from orchestration.cli.backfill import backfill
from orchestration.cli.chain import chain
from orchestration.cli.demo import demo
from orchestration.cli.docs import docs
from orchestration.cli.exceptions import exceptions_group
from orchestration.cli.ingest import ingest
from orchestration.cli.trail import trail


@click.group()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Data home (default: $BACKED_HOME or ./.backed).")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """backed: proves, every day, that a GPU-collateralised stablecoin is backed."""
    ctx.ensure_object(dict)
    if home is not None:
        ctx.obj["home"] = home.resolve()


for command in (demo, attest, chain, exceptions_group, trail, backfill, ingest, docs):
    main.add_command(command)

if __name__ == "__main__":
    main()
