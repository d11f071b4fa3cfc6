"""`backed attest DAY`: the day's reserve attestation, HTML and PDF, through Dagster."""
from __future__ import annotations

import sys

import click

from orchestration.cli.parameters import DAY, data_home


@click.command()
@click.argument("day", type=DAY)
@click.option("--override", "override_reason", default=None,
              help="Generate despite open blocker exceptions; the reason is printed in the report.")
@click.option("--preparer", default="", help="The preparer's name for the sign-off block.")
@click.pass_context
def attest(ctx: click.Context, day, override_reason: str | None, preparer: str) -> None:
    """Write the reserve attestation of DAY (YYYY-MM-DD), HTML and PDF, through Dagster.

    Refuses (exit status 1) while a blocker exception is open for DAY, unless --override "reason" is given.
    """
    from orchestration.crashed_runs import process_tags, release_crashed_runs
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from orchestration.pipeline import QUIET_RUN_CONFIG

    if override_reason is not None and not override_reason.strip():
        raise click.BadParameter("an override needs a reason", param_hint="--override")
    home = data_home(ctx)
    defs = build_definitions(home.root)
    run_config = {**QUIET_RUN_CONFIG,
                  "ops": {"reserve_attestation": {"config": {"override_reason": override_reason, "preparer": preparer}}}}
    click.echo(f"attesting {day} (gathering the ledger, drawing the charts, writing HTML and PDF)", err=True)
    instance = instance_for(home)
    release_crashed_runs(instance)  # the attestation takes the warehouse pool: see orchestration/crashed_runs.py
    result = defs.resolve_job_def("attestation").execute_in_process(
        instance=instance, partition_key=day.isoformat(), run_config=run_config,
        tags={**process_tags(), **({"backed/override_reason": override_reason[:200]} if override_reason else {})},
        raise_on_error=False)
    if not result.success:
        messages = [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
        click.echo(f"attestation for {day} refused: {messages[0] if messages else 'failed'}", err=True)
        sys.exit(1)
    if override_reason:
        click.echo(f"OVERRIDE printed in the report: {override_reason}", err=True)
    for path in home.attestation_paths(day):
        click.echo(str(path))
