"""What a person sees when a `backed` command cannot do what was asked: one line naming what is wrong and what to do,
exit status 2 for a usage mistake and 1 for a refused operation, no traceback unless --debug, the details in the
data home's command log. Each mistake is caught before anything starts (no chain, no run)."""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from orchestration.cli import main


def run(home, *args: str):
    return CliRunner().invoke(main, ["--home", str(home), *args])


@pytest.mark.parametrize(("args", "says"), [
    (["demo", "--inject", "bogus"], "unknown injection kind 'bogus' (known: "),
    (["demo", "--days", "5", "--inject", "unbacked-mint@9"], "day 9 is outside days 1..5"),
    (["demo", "--start", "2026-02-30"], "'2026-02-30' is not a date (YYYY-MM-DD)"),
    (["attest", "2026-13-01"], "'2026-13-01' is not a date (YYYY-MM-DD)"),
])
def test_a_usage_mistake_is_one_line_and_exit_status_2_before_anything_starts(tmp_path, args, says):
    started = time.monotonic()
    result = run(tmp_path / "home", *args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 10  # no anvil started, no Dagster run
    assert not (tmp_path / "home" / "sandbox").exists()


@pytest.mark.parametrize("limit", ["lots", "4", "4 G", ""])
def test_a_memory_limit_duckdb_cannot_take_is_one_line_before_anything_starts(tmp_path, monkeypatch, limit):
    monkeypatch.setenv("BACKED_DUCKDB_MEMORY_LIMIT", limit)
    result = run(tmp_path / "home", "demo", "--days", "1")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == (f"Error: BACKED_DUCKDB_MEMORY_LIMIT={limit!r} is not an amount of memory: set "
                                     "it like 4GB or 512MB (docs/deployment.md), or unset it for 4GB")
    assert not (tmp_path / "home" / "sandbox").exists()


def test_attesting_with_no_ledger_built_says_so_and_what_to_run(tmp_path):
    result = run(tmp_path / "home", "attest", "2025-12-01")
    assert result.exit_code == 1
    assert result.output.strip() == (f"attestation for 2025-12-01 refused: no ledger has been built in "
                                     f"{tmp_path / 'home'} yet; run `backed demo` or `backed backfill` first")


def test_an_unforeseen_error_is_one_line_and_the_log_has_the_traceback_or_the_terminal_with_debug(tmp_path,
                                                                                                   monkeypatch):
    import orchestration.warehouse_days

    def broken(home, relation=None):
        raise RuntimeError("the warehouse answered nonsense\nsecond line of detail")

    monkeypatch.setattr(orchestration.warehouse_days, "built_days", broken)
    home = tmp_path / "home"
    result = run(home, "attest", "2026-01-05")
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "error: the warehouse answered nonsense", "  second line of detail",
        f"details: {home / 'logs' / 'backed.log'} (run with --debug to see the traceback here)"]
    log = (home / "logs" / "backed.log").read_text()
    assert "Traceback (most recent call last)" in log and "RuntimeError: the warehouse answered nonsense" in log
    debugged = CliRunner().invoke(main, ["--home", str(home), "--debug", "attest", "2026-01-05"])
    assert isinstance(debugged.exception, RuntimeError)


def test_exceptions_are_resolved_by_hand_with_who_and_why_from_the_cli(tmp_path):
    import duckdb
    from datetime import date

    from expectations.exceptions import BLOCKER, Break, record_evaluation
    from foundation.home import DataHome

    home = tmp_path / "home"
    home.mkdir()
    found = Break(check_id="R3", check_date=date(2026, 1, 5), entity_key="custodian:cash", severity=BLOCKER,
                  expected="10", actual="9", difference="-1", tolerance="0.01", description="cash short",
                  lineage="test")
    with duckdb.connect(str(DataHome(home).warehouse)) as con:
        record_evaluation(con, "R3", [found.check_date], [found], run_id="test")
    listed = run(home, "exceptions", "list", "--age", "30+")
    assert listed.exit_code == 0 and found.exception_id in listed.output and "custodian:cash" in listed.output
    missing_reason = run(home, "exceptions", "resolve", found.exception_id, "--by", "ana")
    assert missing_reason.exit_code == 2 and "Missing option '--reason'" in missing_reason.output
    resolved = run(home, "exceptions", "resolve", found.exception_id, "--by", "ana", "--reason", "bank confirmed")
    assert (resolved.exit_code, resolved.output.strip()) == (0, f"{found.exception_id} resolved by ana: bank confirmed")
    assert run(home, "exceptions", "list").output.strip() == "no exceptions"
    again = run(home, "exceptions", "resolve", found.exception_id, "--by", "ana", "--reason", "twice")
    assert again.exit_code == 1 and again.output.strip() == f"Error: exception {found.exception_id} is already resolved (by ana)"
    assert "backed exceptions resolve" in run(home, "exceptions", "resolve", "--help").output


def test_a_failed_backfill_run_is_told_by_its_steps_own_error_under_dagsters_retry_wrapper():
    """What `backed backfill` prints for a failed run: the step and the error it raised (as Dagster records a
    step that failed after its retries: the policy's error around the step's), not `Execution of step … failed.`"""
    from types import SimpleNamespace

    from dagster._utils.error import SerializableErrorInfo

    from orchestration.step_errors import step_error

    raised = SerializableErrorInfo("assets.chain.rpc.RpcUnavailable: eth_chainId: connection dropped after 6 attempts\n",
                                   [], "RpcUnavailable")
    retried = SerializableErrorInfo("Exceeded max_retries of 3\n", [], "RetryRequestedFromPolicy", cause=raised)
    event = SimpleNamespace(event_specific_data=SimpleNamespace(error=retried), step_key="chain_ingestion",
                            message='Execution of step "chain_ingestion" failed.')
    assert step_error(event).line() == ("chain_ingestion: RpcUnavailable: eth_chainId: connection dropped after 6 attempts "
                                    "(exceeded max_retries of 3)")
    no_error = SimpleNamespace(event_specific_data=None, step_key="x", message="Execution of step \"x\" failed.")
    assert step_error(no_error).line() == "x: Execution of step \"x\" failed."
