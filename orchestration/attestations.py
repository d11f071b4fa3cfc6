"""What happens to an attestation once written: signed by its preparer and approver, published on chain, its files
refreshed with the sign-off, and the asset's materialisation telling the UI (digest, signers, transaction).

Keys are read from the signer's own key file for the moment of signing and never passed to Dagster (a run's config
is stored in the instance), logged or copied. A publication on the sandbox is sent from the local node's first
unlocked account; on any other chain profile the transaction is signed with the key in `BACKED_PUBLISHER_KEY` and
sent to the registry at `BACKED_ATTESTATION_REGISTRY` through the profile's node (docs/attestation.md).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg

from assets.attestation.manifest import read_manifest
from assets.attestation.records import read_publication, write_publication
from assets.attestation.signing import SignatureRecord, add_signature, sign_manifest
from foundation.home import DataHome

REGISTRY_VARIABLE = "BACKED_ATTESTATION_REGISTRY"


class AttestationNotFound(Exception):
    """The period has no attestation to sign or publish."""


@dataclass(frozen=True)
class Signed:
    record: SignatureRecord
    added: bool
    digest_now: str


def current_manifest(home: DataHome, period: str) -> tuple[dict, bytes, str]:
    path = home.attestation_manifest(period)
    if not path.exists():
        what = "backed report monthly" if len(period) == 7 else "backed attest"
        raise AttestationNotFound(f"{period} has no attestation in {home.root}: `{what} {period}` writes it first")
    return read_manifest(path)


def sign_attestation(home: DataHome, period: str, key_path: Path, name: str | None = None,
                     role: str | None = None, refresh: bool = True) -> Signed:
    """Sign the period's current manifest with the key at `key_path`, keep the signature, and (with `refresh`)
    write the report again with it in the sign-off."""
    manifest, raw, digest = current_manifest(home, period)
    record = sign_manifest(key_path, raw, digest, name=name, role=role)
    added = add_signature(home.attestation_signatures(period), record)
    digest_now = reissue(home, period, manifest) if refresh else digest
    return Signed(record, added, digest_now)


def _sandbox_registry(home: DataHome) -> tuple[str, str]:
    deployment = json.loads(home.sandbox_deployment.read_text())
    registry = deployment.get("attestation_registry")
    if not registry:
        raise AttestationNotFound(f"{home.sandbox_deployment} names no attestation registry: the sandbox was "
                                  "simulated before it had one; `backed demo` simulates it again")
    return deployment["rpc_url"], registry


def publish_attestation(home: DataHome, period: str, profile: str | None = None) -> tuple[dict, bool]:
    """Publish the period's manifest digest and its signers' keys in the attestation registry; publishing a digest
    already published sends nothing. Returns (the publication, whether it was sent now)."""
    from assets.attestation.registry import PUBLISHER_KEY_VARIABLE, find_publication, publish
    from assets.attestation.signing import read_signatures
    from assets.chain.profiles import load_profile

    manifest, _, digest = current_manifest(home, period)
    signer_keys = [s.public_key for s in read_signatures(home.attestation_signatures(period)) if s.digest == digest]
    profile = profile or os.environ.get("BACKED_PROFILE", "sandbox")
    if profile == "sandbox":
        rpc_url, registry = _sandbox_registry(home)
        private_key, sender = None, None
    else:
        rpc_url = load_profile(profile, home.root).rpc_url
        registry = os.environ.get(REGISTRY_VARIABLE, "").strip()
        private_key = os.environ.get(PUBLISHER_KEY_VARIABLE, "").strip()
        if not registry or not private_key:
            raise AttestationNotFound(f"publishing on {profile} needs the registry's address in ${REGISTRY_VARIABLE} "
                                      f"and the publisher's key in ${PUBLISHER_KEY_VARIABLE}")
    existing = find_publication(rpc_url, registry, digest)
    if existing is not None:
        publication, sent = existing, False
    else:
        if sender is None and private_key is None:
            from assets.chain.rpc import JsonRpcClient

            with JsonRpcClient(rpc_url) as client:
                sender = client.call("eth_accounts")[0]
        publication, sent = publish(rpc_url, registry, digest, period, signer_keys, sender=sender,
                                    private_key=private_key)
    record = {**publication.as_json(), "chain_profile": profile}
    write_publication(home.attestation_publication(period), record)
    reissue(home, period, manifest)
    return record, sent


def reissue(home: DataHome, period: str, manifest: dict) -> str:
    """Write the period's report again with its sign-off as it now stands, and record the attestation asset's
    materialisation with its digest, signers and publication; returns the digest of the manifest written (another
    one than the signed manifest's when the ledger changed since)."""
    if len(period) == 7:
        from orchestration.monthly_report import issue_monthly_report

        return issue_monthly_report(home, period).digest
    from assets.attestation.asset import attestation_metadata, issue_attestation
    from orchestration.instance import instance_for

    from assets.attestation.facts import AttestationRefused

    day = date.fromisoformat(period)
    override = (manifest.get("override") or {}).get("reason")
    try:
        attestation, html_path, pdf_path = issue_attestation(home, day, override, manifest.get("preparer", ""))
    except AttestationRefused as refused:
        # the signature or publication is kept; the report's files cannot show it (a sealed day restated since
        # keeps the sign-off it was sealed with; an integrity break stops every report)
        raise AttestationNotFound(f"recorded, but {period}'s report was not written again: {refused}") from None
    publication = read_publication(home.attestation_publication(period))
    instance_for(home).report_runless_asset_event(dg.AssetMaterialization(
        "reserve_attestation", partition=period, description="signed or published by `backed attest`",
        metadata=attestation_metadata(attestation, html_path, pdf_path, publication)))
    return attestation.digest


DEMO_SIGNERS = (("demo-preparer.key", "Demo Preparer", "preparer"), ("demo-approver.key", "Demo Approver", "approver"))


def demo_keys(home: DataHome) -> list[Path]:
    """The demo's two signing keys, under the data home's keys/ (made once): demo keys, never a real signer's."""
    from assets.attestation.signing import new_key_pair

    paths = []
    for file_name, name, role in DEMO_SIGNERS:
        path = home.demo_keys / file_name
        if not path.exists():
            new_key_pair(path, name, role)
        paths.append(path)
    return paths


def demo_sign_off(verify_it: bool):
    """What `backed demo` does with its last day's attestation, for `run_demo(sign_off=...)`: sign it with the demo's
    keys, publish it on the sandbox chain and (with `verify_it`) verify it end to end."""
    def sign_off(home: DataHome, day: date, phase) -> list[str]:
        what = "signing with demo keys, publishing" + (" and verifying (a rebuild of every day)" if verify_it else "")
        with phase(f"{what} the attestation of {day}"):
            return sign_publish_verify(home, day, demo_keys(home), verify_it)

    return sign_off


def sign_publish_verify(home: DataHome, day: date, keys: list[Path], verify_it: bool) -> list[str]:
    """Sign the day's attestation with each key, publish it and (with `verify_it`) verify it end to end; returns the
    lines to print."""
    from orchestration.verification import print_steps, verify

    period = day.isoformat()
    lines = []
    for key in keys:
        signed = sign_attestation(home, period, key, refresh=False)  # the publication below writes the report
        lines.append(f"signed {period}: {signed.record.role} {signed.record.name} (demo key {key.name}, "
                     f"fingerprint {signed.record.fingerprint})")
    record, _ = publish_attestation(home, period, "sandbox")
    lines.append(f"published {period}: digest {record['digest']} in the registry {record['registry']}, transaction "
                 f"{record['transaction_hash']}")
    if verify_it:
        print_steps(verify(home, home.attestation_paths(day)[0]), lines.append)
    return lines
