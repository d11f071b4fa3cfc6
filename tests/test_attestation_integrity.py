"""Attestations anyone can verify: tampering caught, signatures, the registry, `backed verify` step by step, seals.

On copies of the clean 3-day demo, whose last day `run_demo` signed with its demo keys and published. The chain
stops with the demo, so a test that reads the registry revives it (tests/demo_copies.py) and publishes again.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date

import duckdb
import pytest

from assets.attestation.facts import AttestationRefused
from assets.attestation.manifest import read_manifest
from foundation.home import DataHome

FIRST = date(2026, 1, 1)


def _steps(result) -> dict[str, bool]:
    return {step.name: step.held for step in result.steps}


def _only_broken(result, name: str) -> None:
    """Exactly the step `name` broke; every other step held."""
    steps = _steps(result)
    assert steps[name] is False, result.steps
    assert [n for n, held in steps.items() if not held] == [name], result.steps


@pytest.fixture
def published_copy(clean_demo, tmp_path_factory):
    """A copy of the demo with its chain revived and its last day published on it again."""
    from orchestration.attestations import publish_attestation
    from tests.demo_copies import copy_of_demo, point_at, revived_chain

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "verified")
    day = max(clean_demo[1].attestations)
    with pytest.MonkeyPatch.context() as env, revived_chain(demo, tmp_path / "chain") as rpc_url:
        env.setenv("DAGSTER_HOME", str(home / "dagster"))
        env.setenv("BACKED_HOME", str(home))
        point_at(home, rpc_url)
        publish_attestation(DataHome(home), day.isoformat(), "sandbox")
        yield DataHome(home), day, tmp_path


def test_the_demo_signs_publishes_and_records_what_it_attested(clean_demo):
    from assets.attestation.signing import read_signatures

    home, result = clean_demo
    home = DataHome(home)
    last = max(result.attestations)
    manifest, raw, digest = read_manifest(home.attestation_manifest(last.isoformat()))
    assert manifest["period"] == last.isoformat() and manifest["ledger"]["hash_chain_head"]
    signatures = read_signatures(home.attestation_signatures(last.isoformat()))
    assert {s.role for s in signatures} == {"preparer", "approver"}
    assert all(s.digest == digest and s.holds_for(raw) for s in signatures)
    assert json.loads(home.attestation_publication(last.isoformat()).read_text())["digest"] == digest
    html = home.attestation_paths(last)[0].read_text()
    assert f'content="{digest}"' in html and "Demo Approver" in html and "not signed" not in html
    # the UI: the attestation's latest materialisation shows the digest, the signers and the transaction
    import dagster as dg

    from orchestration.instance import instance_for
    (record,) = instance_for(home).fetch_materializations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey("reserve_attestation"), asset_partitions=[last.isoformat()]), limit=1).records
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert metadata["manifest_sha256"] == digest and "approver Demo Approver" in metadata["signers"]
    assert metadata["published_in"] == json.loads(
        home.attestation_publication(last.isoformat()).read_text())["transaction_hash"]
    # the demo's keys are its own, under keys/, readable by their owner only
    assert {p.name for p in home.demo_keys.glob("*.key")} == {"demo-preparer.key", "demo-approver.key"}
    assert all(p.stat().st_mode & 0o077 == 0 for p in home.demo_keys.glob("*.key"))
    # every attested day has its record outside the warehouse, written once
    for day in result.attestations:
        assert home.attested_entries(day).exists()


@pytest.mark.long
def test_an_attestation_rebuilt_from_its_archived_inputs_has_the_same_figures_and_bytes(published_copy):
    from orchestration.verification import verify

    home, day, _ = published_copy
    held = verify(home, home.attestation_paths(day)[1])
    assert held.held, held.steps
    assert list(_steps(held)) == ["manifest", "document", "signatures", "on chain", "inputs", "journal", "rebuild",
                                  "figures", "bytes"]


def test_each_tamper_is_caught_by_its_own_step(published_copy):
    from orchestration.verification import verify

    home, day, tmp_path = published_copy
    html_path, pdf_path = home.attestation_paths(day)
    held = verify(home, html_path, rebuild=False)
    assert held.held, held.steps
    assert list(_steps(held)) == ["manifest", "document", "signatures", "on chain", "inputs", "journal"]

    # one figure of the HTML
    edited = tmp_path / html_path.name
    html = html_path.read_text()
    figure = re.search(r'<section id="comparison">.*?<td class="num">([0-9,]+\.[0-9]{2})</td>', html, re.S)
    edited.write_text(html[:figure.start(1)] + "9" + html[figure.start(1):])
    _only_broken(verify(home, edited, rebuild=False), "document")

    # one signature
    signatures_path = home.attestation_signatures(day.isoformat())
    kept = signatures_path.read_text()
    records = json.loads(kept)
    records[0]["signature"] = ("0" if records[0]["signature"][0] != "0" else "1") + records[0]["signature"][1:]
    signatures_path.write_text(json.dumps(records))
    _only_broken(verify(home, html_path, rebuild=False), "signatures")
    signatures_path.write_text(kept)

    # one archived input
    (archived,) = home.archive.rglob(f"*custodian-a-camt053-{day.isoformat()}.xml")
    original = archived.read_bytes()
    archived.write_bytes(original.replace(b"</Document>", b"</Document>\n"))
    _only_broken(verify(home, html_path, rebuild=False), "inputs")
    archived.write_bytes(original)

    # one journal line
    with duckdb.connect(str(home.warehouse)) as con:
        con.execute("update main.journal_lines set debit = debit + 1 where partition_date = ? and debit > 0 and "
                    "entry_id = (select min(entry_id) from main.journal_lines where partition_date = ? and debit > 0)",
                    [FIRST, FIRST])
    _only_broken(verify(home, html_path, rebuild=False), "journal")
    with pytest.raises(AttestationRefused, match=f"integrity break: the journal's lines of {FIRST}"):
        from assets.attestation.asset import issue_attestation
        issue_attestation(home, day)


def test_a_journal_changed_after_attestation_is_a_blocker_at_the_next_run_naming_the_day_and_entry(
        clean_demo, tmp_path_factory):
    """An attested day's line edited, another attested day's entry deleted, and an entry forged on an attested day
    (posted while its inputs are unchanged: what a rebuild that reverses an edit also posts): the next build of R11's
    model and its check (what the daily run does) record a blocker for each, naming the entry and the day attested."""
    import subprocess
    import sys
    from pathlib import Path

    from assets.ledger import DBT_PROJECT_DIR, dbt_environment, home_vars, vars_args
    from expectations.checks import run_reconciliation
    from expectations.exceptions import list_exceptions
    from expectations.reconciliation import RECONCILIATIONS
    from tests.demo_copies import copy_of_demo

    _, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "tampered")
    last = max(clean_demo[1].attestations)
    second = date(2026, 1, 2)
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        edited, line_no = con.execute("select entry_id, min(line_no) from main.journal_lines where partition_date = ? "
                                      "group by entry_id order by entry_id limit 1", [FIRST]).fetchone()
        con.execute("update main.journal_lines set credit = credit + 0.01 where entry_id = ? and line_no = ?",
                    [edited, line_no])
        (deleted,) = con.execute("select min(entry_id) from main.journal_lines where partition_date = ?",
                                 [second]).fetchone()
        con.execute("delete from main.journal_lines where entry_id = ?", [deleted])
        con.execute("""insert into main.journal_lines
                       select 'forged' || entry_id, line_no, account_code, sub_account, debit, credit, effective_time,
                              partition_date, source, source_key || ':forged', rule_id, revision, reverses_entry_id,
                              supersedes_entry_id, restatement_reason
                       from main.journal_lines where entry_id = (select max(entry_id) from main.journal_lines
                                                                where partition_date = ?)""", [FIRST])
    subprocess.run([str(Path(sys.prefix) / "bin" / "dbt"), "run", "--quiet", "--select",
                    "r11_journal_matches_attestations", "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
                    str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "dbt_target"),
                    *vars_args(home_vars(DataHome(home)))],
                   env={**os.environ, **dbt_environment(DataHome(home))}, check=True, capture_output=True)
    (r11,) = [r for r in RECONCILIATIONS if r.check_id == "R11"]
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        run_reconciliation(r11, con, [last], "test-run", tmp_path / "docs")
        breaks = {e["entity_key"]: e for e in list_exceptions(con, on=last, check_id="R11", status="open")}
    assert breaks["entry:" + edited]["difference"] == "edited"
    assert breaks["entry:" + deleted]["difference"] == "deleted"
    forged = next(e for key, e in breaks.items() if key.startswith("entry:forged"))
    assert forged["difference"] == "unexplained" and "integrity break, not a restatement" in forged["description"]
    assert f"attested day {FIRST}" in breaks["entry:" + edited]["description"]
    assert f"attested day {second}" in breaks["entry:" + deleted]["description"]
    assert breaks["journal:attested_days"]["severity"] == "blocker" and len(breaks) == 4


def test_keys_live_outside_the_data_home_and_sign_once(tmp_path, clean_demo):
    from click.testing import CliRunner

    from orchestration.cli import main

    home, _ = clean_demo
    runner = CliRunner()
    inside = runner.invoke(main, ["--home", str(home), "keys", "new", str(home / "k.key"), "--name", "A",
                                  "--role", "approver"], standalone_mode=False)
    assert inside.exit_code != 0 and not (home / "k.key").exists()
    made = runner.invoke(main, ["--home", str(home), "keys", "new", str(tmp_path / "k.key"), "--name", "Ann Lee",
                                "--role", "approver"])
    assert made.exit_code == 0, made.output
    key = tmp_path / "k.key"
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert json.loads((tmp_path / "k.key.pub").read_text())["name"] == "Ann Lee"
    log = DataHome(home).command_log.read_text() if DataHome(home).command_log.exists() else ""
    assert key.read_text().splitlines()[1] not in log + made.output
    shutil.copy2(key, tmp_path / "open.key")
    os.chmod(tmp_path / "open.key", 0o644)
    from assets.attestation.signing import SigningError, signer_of
    with pytest.raises(SigningError, match="chmod 600"):
        signer_of(tmp_path / "open.key", "x", "approver")


@pytest.mark.long
def test_a_sealed_day_restated_keeps_its_attestation_which_still_verifies(clean_demo, tmp_path_factory):
    """2026-01 sealed, then the custodian re-sends the last day's holdings statement: the restatement is posted (R11
    sees its cause in the inputs: no break), re-attesting the sealed day is refused naming the seal, the monthly
    report lists the post-seal adjustment, and the sealed attestation still verifies end to end."""
    from click.testing import CliRunner

    from assets.attestation.asset import issue_attestation
    from expectations.exceptions import list_exceptions
    from orchestration.attestations import publish_attestation
    from orchestration.cli import main
    from orchestration.monthly_report import issue_monthly_report
    from orchestration.pipeline import QUIET_RUN_CONFIG, step_crashes
    from orchestration.verification import verify
    from tests.demo_copies import copy_of_demo, daily_pipeline_on

    demo, tmp_path, home = copy_of_demo(clean_demo, tmp_path_factory, "sealed")
    data = DataHome(home)
    last = max(clean_demo[1].attestations)
    sealed = CliRunner().invoke(main, ["--home", str(home), "seal", "2026-01"])
    assert sealed.exit_code == 0 and "sealed" in sealed.output, sealed.output
    again = CliRunner().invoke(main, ["--home", str(home), "seal", "2026-01"])
    assert "already sealed" in again.output
    html_path, _ = data.attestation_paths(last)
    issued = html_path.read_bytes()

    (first,) = data.archive.rglob(f"*custodian-a-semt002-{last.isoformat()}.xml")
    resent = first.read_text().replace("<StmtId>HLD-", "<StmtId>RESENT-HLD-")
    (data.inbox / "custodian").mkdir(parents=True, exist_ok=True)
    (data.inbox / "custodian" / f"custodian-a-semt002-{last.isoformat()}.xml").write_text(resent)
    with daily_pipeline_on(demo, home, tmp_path / "chain") as (daily, instance):
        publish_attestation(data, last.isoformat(), "sandbox")  # on the revived chain, as the demo did on its own
        issued = html_path.read_bytes()
        run = daily.execute_in_process(instance=instance, partition_key=last.isoformat(),
                                       run_config=QUIET_RUN_CONFIG, raise_on_error=False)
        # the run posts the restatement; its attestation step refuses the sealed day
        (refused,) = step_crashes(run)
        assert refused.startswith("reserve_attestation") and f"{last} is sealed" in refused
        with duckdb.connect(str(data.warehouse), read_only=True) as con:
            reversals = con.execute("select count(*) from main.journal_lines where partition_date = ? and "
                                    "rule_id = 'reversal'", [last]).fetchone()[0]
            assert reversals > 0
            assert list_exceptions(con, check_id="R11", status="open") == []
        with pytest.raises(AttestationRefused, match=f"{last} is sealed"):
            issue_attestation(data, last)
        assert html_path.read_bytes() == issued
        verified = verify(data, html_path)
        assert verified.held, verified.steps
        assert "post-seal" in next(s.detail for s in verified.steps if s.name == "journal")
    monthly = issue_monthly_report(data, "2026-01")
    corrections = next(s for s in monthly.sections if s.key == "restatements")
    adjusted = [row for table in corrections.tables for row in table.rows if last.isoformat() in row]
    assert any("2026-01" == row[0] for row in adjusted), corrections.tables
