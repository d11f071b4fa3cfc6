"""The attestation as a Dagster asset: one day's report gathered from the warehouse and written as HTML and PDF."""
import hashlib
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb

from assets.attestation.document import Attestation
from expectations.policy import ReconciliationPolicy
from foundation.home import BackedHome, DataHome
from foundation.partitions import daily_partitions
from foundation.pools import WAREHOUSE_POOL


def _write_atomically(path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


def write_attestation(home: DataHome, attestation: Attestation) -> tuple[Path, Path]:
    """Write the HTML and the PDF (each atomically); returns their paths. An earlier attestation of the day with
    other content (the day was restated, or the code changed) is not lost: it moves to reports/superseded/, named
    by the sha256 of its HTML. The same content written again changes nothing."""
    from assets.attestation.pdf import render_pdf  # reportlab: loaded by the runs that write a report, not at start-up

    html_path, pdf_path = home.attestation_paths(attestation.day)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html = attestation.html.encode("utf-8")
    if html_path.exists() and html_path.read_bytes() != html:
        # what may already have been signed: kept as it was issued
        old_html, old_pdf = home.superseded_attestation_paths(attestation.day,
                                                              hashlib.sha256(html_path.read_bytes()).hexdigest())
        old_html.parent.mkdir(parents=True, exist_ok=True)
        if pdf_path.exists():
            pdf_path.replace(old_pdf)
        html_path.replace(old_html)
    _write_atomically(pdf_path, render_pdf(attestation))
    _write_atomically(html_path, html)
    return html_path, pdf_path


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
    from assets.attestation.facts import AttestationRefused, gather_attestation  # matplotlib: as render_pdf

    day = date.fromisoformat(context.partition_key)
    home = backed_home.paths
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        try:
            attestation = gather_attestation(con, day, config.override_reason, config.preparer,
                                             ReconciliationPolicy.for_home(home))
        except AttestationRefused as exc:
            raise dg.Failure(description=f"attestation refused: {exc}") from exc
    html_path, pdf_path = write_attestation(home, attestation)
    metadata = {
        "path": dg.MetadataValue.path(str(html_path)),
        "pdf_path": dg.MetadataValue.path(str(pdf_path)),
        "sha256": hashlib.sha256(html_path.read_bytes()).hexdigest(),
        "pdf_sha256": hashlib.sha256(pdf_path.read_bytes()).hexdigest(),
        "ledger_hash": attestation.ledger_hash,
        "open_blockers_overridden": len(attestation.blockers),
    }
    if attestation.override_reason:
        metadata["override_reason"] = attestation.override_reason
    return dg.MaterializeResult(metadata=metadata)
