"""`backed keys new PATH`: an Ed25519 key pair for signing attestations."""
from __future__ import annotations

from pathlib import Path

import click

from orchestration.cli.console import console_of
from orchestration.cli.parameters import data_home


@click.group("keys")
def keys_group() -> None:
    """Signing keys for attestations (Ed25519)."""


@keys_group.command("new")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The signer's name, printed in the sign-off block.")
@click.option("--role", required=True, help="preparer, reviewer, approver, chief executive officer or chief "
                                            "financial officer.")
@click.pass_context
def new(ctx: click.Context, path: Path, name: str, role: str) -> None:
    """Write a new private key to PATH (mode 0600) and its public file to PATH.pub (name, role, public key,
    fingerprint). The key must live outside the data home: whoever can read the data home must not be able to
    sign."""
    from assets.attestation.signing import SigningError, new_key_pair

    home = data_home(ctx)
    target = path.resolve()
    if target.is_relative_to(home.root.resolve()):
        raise click.ClickException(f"{path} is inside the data home {home.root}: a signing key lives outside it "
                                   "(e.g. ~/.config/backed/keys/)")
    try:
        signer = new_key_pair(target, name, role)
    except SigningError as error:
        raise click.ClickException(str(error)) from None
    console_of(ctx).say(f"new key for {signer.name} ({signer.role}): {target} (mode 0600), public {target}.pub, "
                        f"fingerprint {signer.fingerprint}")
