"""`backed verify ATTESTATION`: an attestation checked end to end, each step printed with ✓ or ✗."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


@click.command()
@click.argument("attestation", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-rebuild", is_flag=True, help="Skip rebuilding the day in a scratch data home (minutes).")
@click.pass_context
def verify(ctx: click.Context, attestation: Path, no_rebuild: bool) -> None:
    """Verify ATTESTATION (its HTML, PDF or manifest.json): the manifest, the document against it, the signatures,
    the digest on chain, every archived input, the journal, and the day rebuilt from the archived inputs with its
    figures and bytes compared. Exit status 0 only when every step holds."""
    from orchestration.verification import print_steps
    from orchestration.verification import verify as verify_attestation

    console = console_of(ctx)
    with console.phase(f"verifying {attestation.name}"), console.quiet(f"backed verify {attestation}"):
        result = verify_attestation(data_home(ctx), attestation.resolve(), rebuild=not no_rebuild)
    print_steps(result, click.echo)
    sys.exit(0 if result.held else 1)
