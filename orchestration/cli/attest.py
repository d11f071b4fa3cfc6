"""`backed attest DAY`: the day's reserve attestation, HTML and PDF, through Dagster; `backed attest sign` and
`backed attest publish` add signatures and put its digest on chain."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import DAY, data_home


class _AttestCommands(click.Group):
    """`backed attest DAY [options]` writes the day's attestation; `backed attest sign|publish ...` act on one."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["issue", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_AttestCommands)
def attest() -> None:
    """The reserve attestation of a day: `backed attest DAY` writes it (HTML, PDF and its manifest), `backed attest
    sign DAY --key KEYFILE` signs it, `backed attest publish DAY` puts its digest in the attestation registry on
    chain."""


@attest.command("issue")
@click.argument("day", type=DAY)
@click.option("--override", "override_reason", default=None,
              help="Generate despite open blocker exceptions; the reason is printed in the report.")
@click.option("--preparer", default="", help="The preparer's name for the sign-off block.")
@click.option("--sign", "key_path", type=click.Path(path_type=Path), default=None,
              help="Sign the manifest with this Ed25519 key file (`backed keys new` makes one).")
@click.pass_context
def issue(ctx: click.Context, day, override_reason: str | None, preparer: str, key_path: Path | None) -> None:
    """Write the reserve attestation of DAY (YYYY-MM-DD), HTML and PDF, through Dagster (`backed attest DAY`).

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
    if key_path is not None:
        _sign(console, home, day.isoformat(), key_path, None, None)
    for path in home.attestation_paths(day):
        click.echo(str(path))
    click.echo(str(home.attestation_manifest(day.isoformat())))


def _sign(console, home, period: str, key_path: Path, name: str | None, role: str | None) -> None:
    from assets.attestation.signing import SigningError
    from orchestration.attestations import AttestationNotFound, sign_attestation

    try:
        with console.quiet(f"backed attest sign {period}"):
            signed = sign_attestation(home, period, key_path, name, role)
    except (SigningError, AttestationNotFound) as error:
        raise click.ClickException(str(error)) from None
    record = signed.record
    what = "signed" if signed.added else "already signed by this key"
    console.say(f"{period} {what}: {record.role} {record.name}, key {record.fingerprint}, manifest {record.digest}")
    if signed.digest_now != record.digest:
        console.say(f"the ledger changed since that manifest: {period}'s attestation is now {signed.digest_now} and "
                    f"needs signing again (the signed one is kept under superseded/)")


@attest.command("sign")
@click.argument("period")
@click.option("--key", "key_path", type=click.Path(path_type=Path), required=True,
              help="The signer's Ed25519 key file (`backed keys new`); never copied or logged.")
@click.option("--name", default=None, help="The signer's name (default: the key's .pub file).")
@click.option("--role", default=None, help="preparer, reviewer, approver, chief executive officer, chief "
                                           "financial officer (default: the key's .pub file).")
@click.pass_context
def sign(ctx: click.Context, period: str, key_path: Path, name: str | None, role: str | None) -> None:
    """Sign the attestation of PERIOD (a day, YYYY-MM-DD, or a monthly report, YYYY-MM) and refresh its sign-off."""
    _sign(console_of(ctx), data_home(ctx), _period(period), key_path, name, role)


@attest.command("publish")
@click.argument("period")
@click.option("--profile", default=None, help="The chain profile (default: $BACKED_PROFILE or sandbox).")
@click.pass_context
def publish(ctx: click.Context, period: str, profile: str | None) -> None:
    """Put the digest of PERIOD's manifest and its signers' keys in the attestation registry on chain; publishing
    again sends nothing."""
    from assets.attestation.registry import PublishError, RegistryError
    from assets.chain.profiles import ProfileError
    from assets.chain.rpc import RpcUnavailable
    from orchestration.attestations import AttestationNotFound, publish_attestation

    console = console_of(ctx)
    period = _period(period)
    try:
        with console.quiet(f"backed attest publish {period}"):
            record, sent = publish_attestation(data_home(ctx), period, profile)
    except (AttestationNotFound, PublishError, RegistryError, ProfileError) as error:
        raise click.ClickException(str(error)) from None
    except RpcUnavailable:
        raise click.ClickException("the chain's node does not answer: for the sandbox, `backed sandbox up` brings it "
                                   "back") from None
    state = "published" if sent else "already published"
    console.say(f"{period} {state}: digest {record['digest']} in registry {record['registry']}, transaction "
                f"{record['transaction_hash']}, block {record['block_number']}")


def _period(text: str) -> str:
    """A day (YYYY-MM-DD) or a month (YYYY-MM)."""
    import re
    from datetime import date

    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            date.fromisoformat(text + "-01")
            return text
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a day (YYYY-MM-DD) nor a month (YYYY-MM)",
                                 param_hint="PERIOD") from None


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
