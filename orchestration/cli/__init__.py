"""The `backed` command line: one module per command, the shared parameters in `parameters`."""
from __future__ import annotations

import importlib
import sys
import warnings
from pathlib import Path

import click

from orchestration.cli.console import Console

# Each command's module is imported when the command runs (or `--help` lists them): a command that answers at once,
# or a mistake in its arguments, is not kept waiting while Dagster and dbt load for the others.
COMMANDS = {
    "demo": "orchestration.cli.demo:demo",
    "attest": "orchestration.cli.attest:attest",
    "keys": "orchestration.cli.keys:keys_group",
    "chain": "orchestration.cli.chain:chain",
    "exceptions": "orchestration.cli.exceptions:exceptions_group",
    "trail": "orchestration.cli.trail:trail",
    "backfill": "orchestration.cli.backfill:backfill",
    "ingest": "orchestration.cli.ingest:ingest",
    "docs": "orchestration.cli.docs:docs",
    "sandbox": "orchestration.cli.sandbox:sandbox_group",
    "verify": "orchestration.cli.verify:verify",
    "seal": "orchestration.cli.seal:seal",
    "report": "orchestration.cli.report:report_group",
    "sql": "orchestration.cli.sql:sql",
    "ui": "orchestration.cli.ui:ui",
    "warehouse": "orchestration.cli.warehouse:warehouse_group",
}


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

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, command = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), command)

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

    from foundation.warehouse import WarehouseSettingError, check_memory_limit, engine

    try:
        engine()
        check_memory_limit()
    except WarehouseSettingError as error:
        raise click.ClickException(str(error)) from None
    ctx.ensure_object(dict)
    if home is not None:
        ctx.obj["home"] = home.resolve()
    ctx.obj["console"] = Console(data_home(ctx).command_log, verbose=verbose, debug=debug)
    if not verbose:
        # Dagster's notes that a parameter we use is beta, preview or deprecated are for us, not for a user (matched
        # by their text: Dagster itself may not be loaded yet)
        warnings.filterwarnings("ignore", message=r"(?s).* is currently in (beta|preview), ")
        warnings.filterwarnings("ignore", category=DeprecationWarning)


if __name__ == "__main__":
    main()
