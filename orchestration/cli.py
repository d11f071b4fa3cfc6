"""The `backed` command line."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from orchestration.resources import default_home
from sandbox.injections import INJECTION_KINDS


def _home(ctx: click.Context) -> Path:
    return ctx.obj["home"]


@click.group()
@click.option("--home", type=click.Path(path_type=Path), default=None,
              help="Data home (default: $BACKED_HOME or ./.backed).")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """backed: proves, every day, that a GPU-collateralised stablecoin is backed."""
    ctx.ensure_object(dict)
    resolved = (home or default_home()).resolve()
    import os

    os.environ["BACKED_HOME"] = str(resolved)
    ctx.obj["home"] = resolved


@main.command()
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 400))
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--start", default="2026-01-01", show_default=True, help="First simulated UTC day.")
@click.option("--inject", multiple=True, metavar="KIND[@DAY]",
              help="A named discrepancy on a day (index or date; drawn from the seed when omitted), repeatable: "
                   + ", ".join(INJECTION_KINDS) + " (docs/reconciliation.md, Known answers).")
@click.pass_context
def demo(ctx: click.Context, days: int, seed: int, start: str, inject: tuple[str, ...]) -> None:
    """Start a sandbox chain, simulate DAYS of protocol life, run the whole pipeline, print the coverage table."""
    from orchestration.demo import format_table, run_demo

    result = run_demo(_home(ctx), days=days, seed=seed, start=date.fromisoformat(start), inject=inject,
                      echo=lambda m: click.echo(m, err=True))
    click.echo(format_table(result.rows))
    last = result.days[-1]
    if last in result.attestations:
        click.echo(f"\nattestation: {result.attestations[last]}")
    else:
        click.echo(f"\nattestation for {last} refused: {result.refused.get(last, 'not produced')}")
    if result.refused:
        click.echo(f"days without an attestation (open blockers): {', '.join(str(d) for d in sorted(result.refused))}")


@main.command()
@click.argument("day")
@click.option("--override", "override_reason", default=None,
              help="Generate despite open blocker exceptions; the reason is printed in the report.")
@click.option("--preparer", default="", help="The preparer's name for the sign-off block.")
@click.pass_context
def attest(ctx: click.Context, day: str, override_reason: str | None, preparer: str) -> None:
    """Write the reserve attestation of DAY (YYYY-MM-DD), HTML and PDF, through Dagster.

    Refuses (exit status 1) while a blocker exception is open for DAY, unless --override "reason" is given.
    """
    from assets.attestation import report_paths
    from orchestration.crashed_runs import process_tags, release_crashed_runs
    from orchestration.definitions import build_definitions
    from orchestration.demo import QUIET_RUN_CONFIG
    from orchestration.instance import instance_for

    try:
        measured = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter(f"{day!r} is not a date (YYYY-MM-DD)", param_hint="DAY") from None
    if override_reason is not None and not override_reason.strip():
        raise click.BadParameter("an override needs a reason", param_hint="--override")
    home = _home(ctx)
    defs = build_definitions(home)
    run_config = {**QUIET_RUN_CONFIG,
                  "ops": {"reserve_attestation": {"config": {"override_reason": override_reason, "preparer": preparer}}}}
    click.echo(f"attesting {measured} (gathering the ledger, drawing the charts, writing HTML and PDF)", err=True)
    instance = instance_for(home)
    release_crashed_runs(instance)  # the attestation takes the warehouse pool: see orchestration/crashed_runs.py
    result = defs.resolve_job_def("attestation").execute_in_process(
        instance=instance, partition_key=measured.isoformat(), run_config=run_config,
        tags={**process_tags(), **({"backed/override_reason": override_reason[:200]} if override_reason else {})},
        raise_on_error=False)
    if not result.success:
        messages = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        click.echo(f"attestation for {measured} refused: {messages[0] if messages else 'failed'}", err=True)
        sys.exit(1)
    if override_reason:
        click.echo(f"OVERRIDE printed in the report: {override_reason}", err=True)
    for path in report_paths(home / "reports", measured):
        click.echo(str(path))


def _register_subcommands() -> None:
    from orchestration.cli_chain import chain
    from orchestration.cli_backfill import backfill
    from orchestration.cli_exceptions import exceptions_group
    from orchestration.cli_ingest import ingest
    from orchestration.cli_trail import trail

    main.add_command(chain)
    main.add_command(exceptions_group)
    main.add_command(trail)
    main.add_command(backfill)
    main.add_command(ingest)


_register_subcommands()

if __name__ == "__main__":
    main()
