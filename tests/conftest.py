import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")

from datetime import date  # noqa: E402

import pytest  # noqa: E402
# the reliability summary's hooks and fixture, found here by name
from reliability import (pytest_configure, pytest_runtest_makereport, pytest_sessionfinish,  # noqa: E402,F401
                         pytest_terminal_summary, pytest_testnodedown, reliability)

START = date(2026, 1, 1)
DAYS = 3


@pytest.fixture(scope="session")
def clean_demo(tmp_path_factory):
    """A clean 3-day sandbox run through Dagster, shared by the tests that only read it."""
    from orchestration.pipeline import run_demo

    home = tmp_path_factory.mktemp("clean") / "home"
    result = run_demo(home, days=DAYS, seed=7, start=START, echo=lambda m: None)
    return home, result


# The files that run whole demos of their own, longest first. `make test` hands whole files to two workers in
# collection order: started first, the longest overlap the many short files instead of finishing alone at the end.
LONGEST_FIRST = (
    "test_ledger_sandbox_30_days.py", "test_known_answers.py", "test_crash_safety.py", "test_idempotency.py",
    "test_end_to_end.py", "test_reconciliation_checks.py", "test_ledger_dbt.py", "test_guides.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: the rest keep their order
