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


def test_attesting_with_no_ledger_built_says_so_and_what_to_run(tmp_path):
    result = run(tmp_path / "home", "attest", "2025-12-01")
    assert result.exit_code == 1
    assert result.output.strip() == (f"attestation for 2025-12-01 refused: no ledger has been built in "
                                     f"{tmp_path / 'home'} yet; run `backed demo` or `backed backfill` first")


def test_an_unforeseen_error_is_one_line_and_the_log_has_the_traceback_or_the_terminal_with_debug(tmp_path,
                                                                                                   monkeypatch):
    import orchestration.pipeline

    def broken(home):
        raise RuntimeError("the warehouse answered nonsense\nsecond line of detail")

    monkeypatch.setattr(orchestration.pipeline, "built_days", broken)
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
