"""`backed attest`: every field of the attestation (docs/design.md), in HTML and PDF, byte-identical on re-runs, and refused
on an open blocker unless overridden (the override printed in both files). Real dbt warehouse of the clean demo."""
import base64
import re
import shutil
import subprocess
import sys
import zlib
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import DAYS, START
from foundation.home import DataHome

CLI = Path(sys.executable).parent / "backed"
DAY = START.replace(day=DAYS)


def pdf_text(pdf: bytes) -> str:
    """The text drawn on the pages: reportlab writes it as `(text) Tj` in ASCII85- and Flate-encoded streams."""
    chunks = []
    for pdf_object in pdf.split(b"endobj"):
        if b"endstream" not in pdf_object:
            continue
        dictionary, stream = pdf_object.split(b"stream", 1)
        if b"/Image" in dictionary or b"/ASCII85Decode" not in dictionary:
            continue  # images carry no page text
        stream = stream.lstrip(b"\r\n").rsplit(b"endstream", 1)[0]
        chunks.append(zlib.decompress(base64.a85decode(stream.strip(), adobe=True)))
    raw = b"\n".join(chunks)
    return " ".join(m.decode("latin-1") for m in re.findall(rb"\((.*?)(?<!\\)\) Tj", raw, re.S))


def attest(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "--home", str(home), "attest", DAY.isoformat(), *args],
                          capture_output=True, text=True, timeout=300)


def attest_in_process(monkeypatch, home: Path, *args: str):
    """The same command without a new interpreter; the environment it sets is restored after the test."""
    from click.testing import CliRunner

    from orchestration.cli import main

    monkeypatch.setenv("BACKED_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    return CliRunner().invoke(main, ["--home", str(home), "attest", *args])


@pytest.fixture(scope="module")
def warehouse_facts(clean_demo):
    home, _ = clean_demo
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        one = lambda sql: con.execute(sql, [DAY]).fetchone()  # noqa: E731
        return {
            "state_block_hash": one("select state_block_hash from main.stg_chain_days where partition_date = ?")[0],
            "blocks": one("select from_block, to_block from main.stg_chain_days where partition_date = ?"),
            "chain_hash": one("select chain_hash from main.journal_day_hashes where partition_date = ?")[0],
            "hashes": [h for (h,) in con.execute("select sha256 from main.stg_input_files where partition_date = ?",
                                                 [DAY]).fetchall()],
            "cusips": [c for (c,) in con.execute("""select distinct cusip from main.stg_custodian_statements
                       where statement_date = ? and record_type = 'holding'""", [DAY]).fetchall()],
            "usdai": one("select address from main.stg_chain_address_book where partition_date = ? and role = 'usdai'")[0],
            "loans": [l for (l,) in con.execute("""select loan_id from main.loan_positions
                      where partition_date = ? and principal != 0""", [DAY]).fetchall()],
            "lenders": [l for (l,) in con.execute("select distinct lender_id from main.stg_loan_tapes "
                                                  "where partition_date = ?", [DAY]).fetchall()],
        }


def test_html_and_pdf_carry_every_field_of_the_attestation(clean_demo, warehouse_facts):
    home, result = clean_demo
    html_path = result.attestations[DAY]
    html = html_path.read_text()
    pdf = html_path.with_suffix(".pdf").read_bytes()
    text = pdf_text(pdf)
    facts = warehouse_facts
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    # measurement time and each source's own cut-off, with the tolerances
    for needle in ("Measurement time", f"{DAY.isoformat()} 23:59:59.999999 UTC", facts["state_block_hash"],
                   f"logs of blocks {facts['blocks'][0]}\u2013{facts['blocks'][1]}", "custodian statement",
                   "GPU telemetry", "last sample", "R4 liquid coverage", "tolerance",
                   *(f"loan tape {lender}" for lender in facts["lenders"])):
        assert needle in html, needle
    # tokens: minted, bridged, exclusions, outstanding from the chain and the ledger, contract addresses and chain
    for needle in ("minted supply", "bridged supply", "excluded: held by the protocol",
                   "tokens outstanding outside the protocol, from the chain", "USDai outstanding, ledger 2000",
                   facts["usdai"], "chain id 31337"):
        assert needle in html, needle
    # tokens by redeemability: the wallet the sandbox pays and then blacklists on day 2 is frozen, the dead address
    # holds what it was sent, each with its address
    from sandbox.scenario import DEAD_ADDRESS, FROZEN_TRANSFER_USD, KEYLESS_TRANSFER_USD, SANCTIONED_WALLET
    assert f"Blacklisted accounts: {SANCTIONED_WALLET}" in html
    tokens = html[html.index('<section id="tokens">'):]
    tokens = tokens[:tokens.index("</section>")]
    for needle in ("redeemable", "temporarily non-redeemable", "frozen by the blacklist", SANCTIONED_WALLET,
                   f"{FROZEN_TRANSFER_USD:,}.00", "permanently non-redeemable", DEAD_ADDRESS,
                   f"{KEYLESS_TRANSFER_USD:,}.00", "held by the protocol", "on other chains"):
        assert needle in tokens, needle
    assert "balances not read" not in html
    # the same wallet's sUSDai shares, frozen by sUSDai's own blacklist (StakedUSDai v1.0-v1.6), in the NAV section
    from sandbox.scenario import FROZEN_SHARES
    assert f"frozen by sUSDai&#39;s blacklist, not redeemable: {SANCTIONED_WALLET[:10]}" in html
    assert f"{FROZEN_SHARES} sUSDai" in html
    # reserves by class with custodian and segregation; T-bills by CUSIP with maturity and fair value
    # reserves by class: type, holder, jurisdiction, account nature, encumbrance, notional beside market value,
    # and what backs the base token held on chain
    for needle in ("cash (1000)", "T-bills (1010)", "stablecoins on chain (1020)", "GPU loans (1100 - 1190)",
                   "jurisdiction", "United States (New York)", "encumbrance", "not pledged, lent or rehypothecated",
                   "notional (par)", "market / carrying value", "what backs it", "M0 Foundation",
                   "segregated", "maturity", "fair value", *facts["cusips"]):
        assert needle in html, needle
    # loan book at amortised cost less allowance, collateral health, sUSDai NAV, credit insurance, redemption queue
    for needle in ("amortised cost", "allowance", "Collateral health", "sUSDai NAV", *facts["loans"],
                   "insurance cover", "principal covered", "70.00%", "21 days", "sUSDai holders bear the vault",
                   "no claim on the insurance pool", "losses the vault marks only at the sale", "holder yield, 7 days",
                   "credit losses borne by holders today",
                   "redemption queue", "sUSDai pending redemption", "redemptionQueueInfo().balance",
                   "ledger 2110"):
        assert needle in html, needle
    # custody terms from counterparties.toml: the sandbox custodian's account is segregated
    reserves = html[html.index('<section id="reserves">'):]
    assert "not stated" not in reserves[:reserves.index("</section>")]
    # the headline: liquid and total coverage, each with the amounts it is computed from
    verdict = html[html.index('id="verdict"'):]
    verdict = verdict[:verdict.index("</div>")]
    for needle in ("Liquid coverage", "USDai outstanding", "Total coverage", "total assets net of the allowance",
                   "total liabilities", "an excess of"):
        assert needle in verdict, needle
    # every coverage figure beside its parts
    for needle in ("USDai total supply: totalSupply()", "bridged supply: bridgedSupply()",
                   "held by the protocol, eliminated"):
        assert needle in html, needle
    # the comparison, open exceptions, the inputs, sign-off
    for needle in ("an excess of", "Liquid coverage", "Total coverage", "no open exceptions", "Ledger hash",
                   facts["chain_hash"], "Code version", "Management of USDai asserts", "Manifest sha256",
                   "Ed25519 key fingerprint", *facts["hashes"]):
        assert needle in html, needle
    # four charts, inline SVG in the HTML and images in the PDF
    for chart in ("coverage-over-time", "reserve-composition", "loan-book-by-status", "collateral-health"):
        assert re.search(rf'<figure id="chart-{chart}">\s*<svg', html), chart
    assert len(re.findall(rb"/Subtype /Image", pdf)) == 4
    # the PDF says the same as the HTML
    for needle in ("Reserve attestation", "Measurement and cut-offs", "Comparison and coverage", "Ledger hash",
                   facts["hashes"][0], *facts["cusips"]):
        assert needle in text, needle
    coverage = re.search(r"Liquid coverage (\d[\d,.]*%)", html).group(1)
    assert f"Liquid coverage {coverage}" in text


def test_rerunning_gives_byte_identical_html_and_pdf(clean_demo):
    home, result = clean_demo
    html_path = result.attestations[DAY]
    pdf_path = html_path.with_suffix(".pdf")
    before = html_path.read_bytes(), pdf_path.read_bytes()
    out = attest(home)
    assert out.returncode == 0, out.stderr[-2000:]
    manifest = html_path.parent.parent / "attestations" / DAY.isoformat() / "manifest.json"
    assert out.stdout.split() == [str(html_path), str(pdf_path), str(manifest)]
    assert (html_path.read_bytes(), pdf_path.read_bytes()) == before


def test_an_open_blocker_refuses_and_an_override_is_printed_in_both_files(clean_demo, tmp_path, monkeypatch):
    from expectations.exceptions import BLOCKER, Break, record_evaluation

    home = tmp_path / "home"
    shutil.copytree(clean_demo[0], home)
    html_path = home / "reports" / f"attestation-{DAY.isoformat()}.html"
    pdf_path = html_path.with_suffix(".pdf")
    before = html_path.read_bytes(), pdf_path.read_bytes()
    blocker = Break(check_id="R3", check_date=DAY, entity_key="custodian:cash", severity=BLOCKER,
                    expected="791232.000000000000000000", actual="781232.000000000000000000",
                    difference="-10000.000000000000000000", tolerance="0.01", description="cash short", lineage="test")
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        record_evaluation(con, "R3", [DAY], [blocker], run_id="test")

    refused = attest_in_process(monkeypatch, home, DAY.isoformat())
    assert refused.exit_code == 1
    assert "refused" in refused.output and blocker.exception_id in refused.output
    assert (html_path.read_bytes(), pdf_path.read_bytes()) == before

    reason = "custodian confirmed the cash by phone; statement re-issue pending"
    overridden = attest_in_process(monkeypatch, home, DAY.isoformat(), "--override", reason,
                                   "--preparer", "A. Controller")
    assert overridden.exit_code == 0, overridden.output[-2000:]
    assert reason in overridden.output
    html = html_path.read_text()
    assert "OVERRIDE" in html and reason in html and blocker.exception_id in html and "A. Controller" in html
    # The overridden blocker's amounts read as money, as everywhere else in the report.
    money = "expected 791,232.00, actual 781,232.00, difference -10,000.00"
    assert money in html and "000000000000" not in html[html.index('id="override"'):html.index("</ul>")]
    text = pdf_text(pdf_path.read_bytes())
    assert "OVERRIDE" in text and reason in text and blocker.exception_id in text
    assert money in " ".join(text.split())


def test_attest_rejects_an_empty_override_reason_and_a_day_without_a_ledger(clean_demo, tmp_path, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(clean_demo[0], home)
    empty = attest_in_process(monkeypatch, home, DAY.isoformat(), "--override", "  ")
    assert empty.exit_code == 2 and "reason" in empty.output
    unbuilt = attest_in_process(monkeypatch, home, date(2025, 6, 1).isoformat())
    assert unbuilt.exit_code == 1 and unbuilt.output.strip() == (
        "attestation for 2025-06-01 refused: the ledger runs from 2026-01-01 to 2026-01-03; build 2025-06-01 first "
        "(`backed backfill --from 2025-06-01 --to 2025-06-01`)")
