"""The monthly reserve report (`backed report monthly`) of the demo's month: its sections, figures read back from the
warehouse independently, its manifest, and the same bytes on a second run."""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from assets.attestation.manifest import MONTHLY_MANIFEST_KIND, canonical_json, read_manifest
from conftest import DAYS, START
from demo_copies import copy_of_demo
from foundation.home import DataHome
from foundation.money import ratio, usd
from orchestration.monthly_report import MonthlyReportRefused, issue_monthly_report

MONTH = START.strftime("%Y-%m")  # the demo's days all fall in its first month
SECTIONS = ("position", "issuance", "composition", "exceptions", "restatements", "contract_changes",
            "daily_attestations", "signoff", "certification")


@pytest.fixture(scope="module")
def demo_home(clean_demo, tmp_path_factory) -> DataHome:
    _, _, home = copy_of_demo(clean_demo, tmp_path_factory, "monthly_report")
    return DataHome(home)


def _section(html: str, key: str) -> str:
    found = re.search(rf'<section id="{key}">(.*?)</section>', html, re.S)
    assert found, f"no section {key} in the report"
    return found.group(1)


def test_monthly_report_states_the_month_and_is_the_same_bytes_twice(demo_home):
    report = issue_monthly_report(demo_home, MONTH)
    html_path, pdf_path = demo_home.monthly_report_paths(MONTH)
    first = html_path.read_bytes(), pdf_path.read_bytes()
    assert first[1].startswith(b"%PDF")

    again = issue_monthly_report(demo_home, MONTH)
    assert again.digest == report.digest
    assert (html_path.read_bytes(), pdf_path.read_bytes()) == first

    document, raw, digest = read_manifest(demo_home.attestation_manifest(MONTH))
    assert digest == report.digest and raw == report.manifest_bytes
    assert canonical_json(json.loads(raw, parse_float=Decimal)) == raw
    assert document["kind"] == MONTHLY_MANIFEST_KIND and document["period"] == MONTH
    assert document["preparer"] == ""
    ledger_days = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
    assert document["ledger_days"] == ledger_days
    assert [a["day"] for a in document["daily_attestations"]] == ledger_days

    html = first[0].decode("utf-8")
    assert f"<title>Monthly reserve report {MONTH}</title>" in html
    assert f'<meta name="backed-manifest-sha256" content="{report.digest}">' in html
    for key in SECTIONS:
        _section(html, key)

    end = date.fromisoformat(ledger_days[-1])
    with duckdb.connect(str(demo_home.warehouse), read_only=True) as con:
        liquid, total = con.execute("select liquid_coverage, total_coverage from main.reserve_coverage "
                                    "where partition_date = ?", [end]).fetchone()
        issued = con.execute("select sum(minted_by_deposits + minted_by_harvests) "
                             "from main.usdai_supply_reconciliation where partition_date between ? and ?",
                             [START, end]).fetchone()[0]
    position = _section(html, "position")
    assert f'<td class="num">{ratio(liquid)}</td>' in position
    assert f'<td class="num">{ratio(total)}</td>' in position
    assert Decimal(document["figures"]["issuance"]["month"]["issued"]) == issued
    issuance_row = re.search(r"<tr><td>issued</td>(.*?)</tr>", _section(html, "issuance")).group(1)
    assert f'<td class="num">{usd(issued)}</td>' in issuance_row
    # every daily attestation the demo wrote is listed by its manifest's digest
    daily = _section(html, "daily_attestations")
    for day in ledger_days:
        assert read_manifest(demo_home.attestation_manifest(day))[2] in daily


def test_a_month_without_a_ledger_day_is_refused_naming_what_to_run(demo_home):
    with pytest.raises(MonthlyReportRefused, match=r"backed backfill --from 2025-12-01 --to 2025-12-31"):
        issue_monthly_report(demo_home, "2025-12")
    assert not demo_home.attestation_manifest("2025-12").exists()
    assert not any(path.exists() for path in demo_home.monthly_report_paths("2025-12"))
