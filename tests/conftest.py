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
