"""The `backed` command line: one module per command, the shared parameters in `parameters`."""
from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click

from orchestration.cli.attest import attest
from orchestration.cli.console import Console
from orchestration.cli.backfill import backfill
from orchestration.cli.chain import chain
from orchestration.cli.demo import demo
from orchestration.cli.docs import docs
from orchestration.cli.exceptions import exceptions_group
from orchestration.cli.ingest import ingest
from orchestration.cli.keys import keys_group
from orchestration.cli.report import report_group
from orchestration.cli.sandbox import sandbox_group
from orchestration.cli.seal import seal
from orchestration.cli.sql import sql
from orchestration.cli.trail import trail
from orchestration.cli.ui import ui
from orchestration.cli.warehouse import warehouse_group
from orchestration.cli.verify import verify


class _Commands(click.Group):
    """The `backed` group: a mistake in the command line is one line naming it and where the help is (exit status 2),
    a refused operation one line (1); an error no command foresaw is one line on the terminal, its traceback in the
    log."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            returned = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as error:
            where = f" (`{error.ctx.command_path} --help` lists what it takes)" if error.ctx is not None else ""
            click.echo(f"Error: {error.format_message()}{where}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            click.echo(f"Error: {error.format_message()}", err=True)
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(returned if isinstance(returned, int) else 0)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as error:
            console = (ctx.obj or {}).get("console")
            if console is None or console.debug:
                raise
            from foundation.warehouse import damaged, rebuild_advice

            if damaged(error):  # the warehouse file, not the command: say what mends it
                from orchestration.cli.parameters import data_home

                home = data_home(ctx)
                raise click.ClickException(f"the warehouse {home.warehouse} cannot be opened "
                                           f"({str(error).strip().splitlines()[0]}): {rebuild_advice(home)}") from None
            console.fail(error)
            ctx.exit(1)


@click.group(cls=_Commands)
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Data home (default: $BACKED_HOME or ./.backed).")
@click.option("--verbose", is_flag=True, help="Show dbt's and Dagster's output too (it goes to logs/backed.log).")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
@click.pass_context
def main(ctx: click.Context, home: Path | None, verbose: bool, debug: bool) -> None:
    """backed: proves, every day, that a GPU-collateralised stablecoin is backed."""
    from orchestration.cli.parameters import data_home

    from foundation.warehouse import UnknownEngine, engine

    try:
        engine()
    except UnknownEngine as error:
        raise click.ClickException(str(error)) from None
    ctx.ensure_object(dict)
    if home is not None:
        ctx.obj["home"] = home.resolve()
    ctx.obj["console"] = Console(data_home(ctx).command_log, verbose=verbose, debug=debug)
    if not verbose:
        # Dagster's notes that a parameter we use is beta, preview or deprecated are for us, not for a user (Dagster
        # is loaded already: the data home's module defines its resource)
        import dagster as dg

        for category in (dg.BetaWarning, dg.PreviewWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category)


for command in (demo, attest, keys_group, chain, exceptions_group, trail, backfill, ingest, docs, sandbox_group,
                verify, seal, report_group, sql, ui, warehouse_group):
    main.add_command(command)

if __name__ == "__main__":
    main()
