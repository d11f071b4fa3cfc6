"""`backed backfill`: a backfill through the Dagster instance, shown in the UI, run to the end, resumable."""
from __future__ import annotations

import dataclasses
import sys
from datetime import date

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


def _date(value: str | None, option: str) -> date:
    if not value:
        raise click.UsageError(f"{option} is required (YYYY-MM-DD), or --resume ID")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


@click.command("backfill")
@click.option("--from", "first", help="First day (YYYY-MM-DD).")
@click.option("--to", "last", help="Last day (YYYY-MM-DD), inclusive.")
@click.option("--select", default=None,
              help="Dagster asset selection, e.g. 'group:ledger or group:reconciliation' (the marts and the views "
                   "their checks read; default: the daily pipeline).")
@click.option("--exact", is_flag=True,
              help="Materialise only what --select names, not the models of the dbt build it reads.")
@click.option("--profile", default=None, help="Chain profile for the runs (sandbox, arbitrum); default $BACKED_PROFILE.")
@click.option("--resume", "resume_id", default=None,
              help="Carry on an interrupted backfill, or re-execute a failed one from failure.")
@click.option("--submit-only", is_flag=True,
              help="Add the backfill and return; a running daemon (dagster dev) or --resume runs it.")
@click.option("--list", "list_recent", is_flag=True, help="List the latest backfills and their status.")
@click.option("--stall-after", "stall_after", type=click.FloatRange(min=1), metavar="SECONDS", default=None,
              help="Stop and say what the backfill waits on when nothing moved for this long (default "
                   "$BACKED_BACKFILL_STALL_SECONDS, else 900).")
@click.option("--release-run", "release_run_id", metavar="RUN_ID", default=None,
              help="Mark failed a run whose process is gone and free the warehouse pool it holds (a stalled "
                   "backfill names it).")
@click.pass_context
def backfill(ctx: click.Context, first: str | None, last: str | None, select: str | None, exact: bool,
             profile: str | None,
             resume_id: str | None, submit_only: bool, list_recent: bool, stall_after: float | None,
             release_run_id: str | None) -> None:
    """Backfill the days --from .. --to through the Dagster instance (listed on the UI's Backfills page).

    \b
    backed backfill --from 2026-01-01 --to 2026-01-03
    backed backfill --from 2026-01-02 --to 2026-01-03 --select 'group:ledger or group:reconciliation'
    backed backfill --resume <ID>
    backed backfill --release-run <RUN_ID>
    """
    from orchestration.backfills import (BackfillError, SelectionError, backfill_log, children_output_to,
                                         drive_backfill, launch_backfill, recent_backfills, release_stuck_run,
                                         resume_backfill, run_failures)

    from orchestration.instance import instance_for

    paths = data_home(ctx)
    home = paths.root
    # The runs are started by Dagster in other processes: they get the chain profile from the instance's environment.
    instance_for(paths, profile)
    if release_run_id:
        try:
            click.echo(release_stuck_run(home, release_run_id))
        except BackfillError as error:
            raise click.ClickException(str(error)) from None
        return
    if list_recent:
        for b in recent_backfills(home):
            click.echo(f"{b['id']}  {b['status']:<18} {b['title']}")
        return
    try:
        if resume_id:
            if first or last or select or exact:
                raise click.UsageError("--resume takes no --from, --to, --select or --exact: the backfill has them")
            backfill_id = resume_backfill(home, resume_id)
            click.echo(f"resuming backfill {resume_id}" + (f" as {backfill_id} (re-execution from failure)"
                                                            if backfill_id != resume_id else ""), err=True)
        else:
            start, end = _date(first, "--from"), _date(last, "--to")
            if end < start:
                raise click.BadParameter(f"{end} is before --from {start}", param_hint="--to")
            click.echo(f"launching a backfill of {start} .. {end} on the Dagster instance in {paths.dagster}",
                       err=True)
            backfill_id = launch_backfill(home, start, end, select, exact,
                                          echo=lambda line: click.echo(line, err=True))
    except SelectionError as error:
        raise click.UsageError(str(error)) from None
    except BackfillError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backfill {backfill_id}: the Dagster UI lists it under Overview > Backfills", err=True)
    if submit_only:
        click.echo(backfill_id)
        return
    log_path = backfill_log(paths, backfill_id)
    click.echo(f"run output goes to {log_path}", err=True)
    try:
        with children_output_to(log_path) as terminal:
            # the console's progress bar, drawn on the terminal while the runs' output goes to the log
            console = dataclasses.replace(console_of(ctx), terminal=terminal)
            with console.phase(f"backfill {backfill_id}") as update:
                bar = (lambda p: update(p.materialized + p.failed, p.asset_partitions)) if console.draws_bars else None
                progress = drive_backfill(home, backfill_id, echo=lambda line: print(line, file=terminal, flush=True),
                                          stall_after=stall_after, progressed=bar)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted: backfill {backfill_id} stays requested; runs already started finish on their "
                   f"own. Carry on with: backed backfill --resume {backfill_id}", err=True)
        sys.exit(130)
    except BackfillError as error:
        raise click.ClickException(f"{error} (its output is in {log_path}); carry on with: "
                                   f"backed backfill --resume {backfill_id}") from None
    # A parallel backfill ends on its second stage (orchestration.backfills): report on the one that ran last.
    backfill_id = progress.backfill_id
    for failure in run_failures(home, backfill_id):
        click.echo(failure, err=True)
    click.echo(backfill_id)
    if progress.status != "COMPLETED_SUCCESS":
        click.echo(f"backfill {backfill_id} ended {progress.status.lower()}; "
                   f"after fixing the cause: backed backfill --resume {backfill_id}", err=True)
        sys.exit(1)
