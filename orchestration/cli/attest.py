"""`backed attest DAY`: the day's reserve attestation, HTML and PDF, through Dagster."""
from __future__ import annotations

import sys

import click

from orchestration.cli.console import console_of
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
    if override_reason is not None and not override_reason.strip():
        raise click.BadParameter("an override needs a reason", param_hint="--override")
    home = data_home(ctx)
    console = console_of(ctx)
    from orchestration.warehouse_days import built_days

    built = built_days(home.root)
    if built is None:
        console.say(f"attestation for {day} refused: no ledger has been built in {home.root} yet; run `backed demo` "
                    "or `backed backfill` first")
        sys.exit(1)
    if not built[0] <= day <= built[1]:
        console.say(f"attestation for {day} refused: the ledger runs from {built[0]} to {built[1]}; build {day} first "
                    f"(`backed backfill --from {day} --to {day}`)")
        sys.exit(1)
    with (console.phase(f"attesting {day} (gathering the ledger, drawing the charts, writing HTML and PDF)"),
          console.quiet(f"backed attest {day}")):
        result = _attest(home, day, override_reason, preparer)
    if not result.success:
        from orchestration.pipeline import failure_reasons

        reasons = failure_reasons(result)
        console.say(f"attestation for {day} refused: {reasons[0] if reasons else 'the run failed'}")
        console.say(f"details: {console.log_path}")
        sys.exit(1)
    if override_reason:
        console.say(f"OVERRIDE printed in the report: {override_reason}")
    for path in home.attestation_paths(day):
        click.echo(str(path))


def _attest(home, day, override_reason: str | None, preparer: str):
    from orchestration.crashed_runs import process_tags, release_crashed_runs
    from orchestration.definitions import build_definitions
    from orchestration.instance import instance_for
    from orchestration.pipeline import QUIET_RUN_CONFIG

    defs = build_definitions(home.root)
    run_config = {**QUIET_RUN_CONFIG,
                  "ops": {"reserve_attestation": {"config": {"override_reason": override_reason, "preparer": preparer}}}}
    instance = instance_for(home)
    release_crashed_runs(instance)  # the attestation takes the warehouse pool: see orchestration/crashed_runs.py
    return defs.resolve_job_def("attestation").execute_in_process(
        instance=instance, partition_key=day.isoformat(), run_config=run_config,
        tags={**process_tags(), **({"backed/override_reason": override_reason[:200]} if override_reason else {})},
        raise_on_error=False)
