"""The `backed` command line."""
from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from orchestration.resources import default_home


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
@click.option("--inject", multiple=True, help="A named discrepancy, e.g. unbacked-mint or unbacked-mint@3.")
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
@click.option("--override", "override_reason", default=None, help="Generate despite open blockers; printed in the report.")
@click.option("--preparer", default="", help="The preparer's name for the sign-off block.")
@click.pass_context
def attest(ctx: click.Context, day: str, override_reason: str | None, preparer: str) -> None:
    """Write the reserve attestation of DAY (YYYY-MM-DD) through Dagster."""
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for

    home = _home(ctx)
    defs = build_definitions(home)
    from orchestration.demo import QUIET_RUN_CONFIG

    run_config = {**QUIET_RUN_CONFIG,
                  "ops": {"reserve_attestation": {"config": {"override_reason": override_reason, "preparer": preparer}}}}
    result = defs.resolve_job_def("attestation").execute_in_process(
        instance=instance_for(home), partition_key=date.fromisoformat(day).isoformat(), run_config=run_config,
        raise_on_error=False)
    path = home / "reports" / f"attestation-{day}.html"
    if not result.success:
        messages = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        click.echo(f"attestation for {day} refused: {messages[0] if messages else 'failed'}", err=True)
        sys.exit(1)
    click.echo(str(path))


if __name__ == "__main__":
    main()
