"""The attestation as a Dagster asset: one day's report gathered from the warehouse and written as HTML and PDF,
with its manifest, its signatures and its publication kept under attestations/ (assets/attestation/records.py)."""
import hashlib
import re
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from assets.attestation.document import Attestation
from expectations.policy import ReconciliationPolicy
from foundation.home import DataHome
from foundation.home_resource import BackedHome
from foundation.lake import Lake, write_bytes_atomically
from foundation.partitions import daily_partitions
from foundation.pools import WAREHOUSE_POOL


_DIGEST_META = re.compile(rb'<meta name="backed-manifest-sha256" content="([0-9a-f]{64})">')


def digest_in_html(html: bytes) -> str | None:
    """The manifest digest an attestation's HTML names (its `backed-manifest-sha256` meta tag)."""
    found = _DIGEST_META.search(html)
    return found.group(1).decode() if found else None


def write_attestation(home: DataHome, attestation: Attestation) -> tuple[Path, Path]:
    """Write the HTML and the PDF (each atomically); returns their paths. An earlier attestation of the day with
    another manifest (the day was restated, or the code changed) is not lost: it moves to reports/superseded/,
    named by the sha256 of its HTML. The same manifest with a new signature or its publication replaces the files:
    what is signed did not change."""
    from assets.attestation.pdf import render_pdf  # reportlab: loaded by the runs that write a report, not at start-up

    html_path, pdf_path = home.attestation_paths(attestation.day)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html = attestation.html.encode("utf-8")
    if html_path.exists() and html_path.read_bytes() != html \
            and digest_in_html(html_path.read_bytes()) != attestation.digest:
        # what may already have been signed: kept as it was issued
        old_html, old_pdf = home.superseded_attestation_paths(attestation.day,
                                                              hashlib.sha256(html_path.read_bytes()).hexdigest())
        old_html.parent.mkdir(parents=True, exist_ok=True)
        if pdf_path.exists():
            pdf_path.replace(old_pdf)
        html_path.replace(old_html)
    write_bytes_atomically(pdf_path, render_pdf(attestation))
    write_bytes_atomically(html_path, html)
    return html_path, pdf_path


def refuse_to_change_sealed(home: DataHome, day: date, digest: str) -> None:
    """A sealed day's attestation is never replaced: what changed since is a post-seal adjustment."""
    from assets.attestation.facts import AttestationRefused
    from assets.attestation.seals import sealed_day

    sealed = sealed_day(home, day)
    if sealed is not None and sealed["digest"] != digest:
        month = day.isoformat()[:7]
        raise AttestationRefused(
            f"{day} is sealed ({month}) with the attestation {sealed['digest'][:16]}…, which stays as it was: the "
            f"ledger changed since, a post-seal adjustment the next monthly report lists (`backed report monthly "
            f"MONTH`); `backed verify` still verifies the sealed attestation")


def issue_attestation(home: DataHome, day: date, override_reason: str | None = None, preparer: str = "",
                      ) -> tuple[Attestation, Path, Path]:
    """Gather the day's attestation from the warehouse, keep its manifest (and, the first time the day is attested,
    the record of its journal) under attestations/, and write its HTML and PDF with the signatures and the
    publication its digest has. Raises AttestationRefused."""
    from assets.attestation.facts import gather_attestation  # matplotlib: as render_pdf
    from assets.attestation.records import archive_chain_partitions, record_attested_journal, write_manifest

    period = day.isoformat()
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        attestation = gather_attestation(con, day, override_reason, preparer, ReconciliationPolicy.for_home(home),
                                         lake=Lake(home))
        refuse_to_change_sealed(home, day, attestation.digest)
        archive_chain_partitions(home, attestation.manifest["chain_partitions"])
        write_manifest(home, period, attestation.manifest_bytes, attestation.digest)
        record_attested_journal(con, home, day, attestation.manifest["ledger"])
    refresh_sign_off(home, attestation)
    html_path, pdf_path = write_attestation(home, attestation)
    return attestation, html_path, pdf_path


def refresh_sign_off(home: DataHome, attestation: Attestation) -> None:
    """Lay the signatures and the publication the attestation's digest has into its sign-off."""
    from assets.attestation.facts import sign_off
    from assets.attestation.records import read_publication
    from assets.attestation.signing import read_signatures

    period = attestation.period
    publication = read_publication(home.attestation_publication(period))
    if publication and publication.get("digest") != attestation.digest:
        publication = None
    sign_off(attestation, read_signatures(home.attestation_signatures(period)), publication)


def attestation_metadata(attestation: Attestation, html_path: Path, pdf_path: Path,
                         publication: dict | None) -> dict:
    """What the asset's materialisation shows: the files and their hashes, the digest, the signers, the
    publication's transaction."""
    metadata = {
        "path": dg.MetadataValue.path(str(html_path)),
        "pdf_path": dg.MetadataValue.path(str(pdf_path)),
        "sha256": hashlib.sha256(html_path.read_bytes()).hexdigest(),
        "pdf_sha256": hashlib.sha256(pdf_path.read_bytes()).hexdigest(),
        "manifest_sha256": attestation.digest,
        "ledger_hash": attestation.ledger_hash,
        "signers": ", ".join(f"{s.role} {s.name} ({s.fingerprint})" for s in attestation.signatures) or "not signed",
        "open_blockers_overridden": len(attestation.blockers),
    }
    if publication and publication.get("digest") == attestation.digest:
        metadata["published_in"] = publication["transaction_hash"] or ""
        metadata["published_block"] = publication["block_number"]
        metadata["registry"] = publication["registry"]
    if attestation.override_reason:
        metadata["override_reason"] = attestation.override_reason
    return metadata


class AttestationConfig(dg.Config):
    override_reason: str | None = None
    preparer: str = ""


@dg.asset(
    description="The day's reserve attestation, HTML and PDF with charts: cut-offs, tokens, reserves by class, loan "
                "book and sUSDai NAV, coverage, open exceptions, input hashes, sign-off. Refuses while a blocker "
                "exception is open unless an override reason is given.",
    group_name="attestation",
    kinds={"html", "pdf"},
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=1),
    # The marts it stands on. Its figures are the dbt models of group attestation_figures, views over these marts
    # built in the same dbt step; the reconciliation checks on these marts are blocking, so the day's exceptions are
    # recorded before the report reads them.
    deps=["reserve_coverage", "trial_balance", "journal_lines", "usdai_supply_reconciliation", "balance_sheet",
          "loan_positions", "susdai_yield", "journal_day_hashes", "blacklist_updates", "reserve_balances"],
    pool=WAREHOUSE_POOL,
)
def reserve_attestation(context: dg.AssetExecutionContext, config: AttestationConfig,
                        backed_home: BackedHome) -> dg.MaterializeResult:
    from assets.attestation.facts import AttestationRefused
    from assets.attestation.records import read_publication

    day = date.fromisoformat(context.partition_key)
    home = backed_home.paths
    try:
        attestation, html_path, pdf_path = issue_attestation(home, day, config.override_reason, config.preparer)
    except AttestationRefused as exc:
        raise dg.Failure(description=f"attestation refused: {exc}") from exc
    publication = read_publication(home.attestation_publication(attestation.period))
    return dg.MaterializeResult(metadata=attestation_metadata(attestation, html_path, pdf_path, publication))
