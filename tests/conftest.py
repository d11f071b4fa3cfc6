import fcntl
import os
import pickle
import shutil
import sys
import uuid
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
# Tests drop files they have just written and closed, and take them in at once: the inbox's quiet period would leave
# them waiting. tests/test_inbox_arrivals.py sets it where it is what is tested; the writer check always holds.
os.environ.setdefault("BACKED_INBOX_QUIET_SECONDS", "0")

from datetime import date  # noqa: E402

import pytest  # noqa: E402
# the reliability summary's hooks and fixture, found here by name
from reliability import (pytest_configure, pytest_runtest_makereport, pytest_sessionfinish,  # noqa: E402,F401
                         pytest_terminal_summary, pytest_testnodedown, reliability)

START = date(2026, 1, 1)
DAYS = 3
# The machine's PostgreSQL, for a Dagster instance stored there (trust authentication, as CI has it).
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for the Dagster instance, dropped after the test."""
    import psycopg2

    try:
        admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **PG)
    except psycopg2.OperationalError as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {str(error).strip()}")
    admin.autocommit = True
    name = f"backed_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    try:
        yield f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
            cur.execute(f'drop database if exists "{name}"')
        admin.close()


@pytest.fixture(scope="session")
def clean_demo(tmp_path_factory):
    """A clean 3-day sandbox run through Dagster, shared by the tests that only read it.

    Run once per test session: `make test`'s two xdist workers are two processes with session fixtures each, and
    both need this one. The first worker to ask runs the demo into the folder the workers share, under a lock; the
    other waits for it. Each worker, the first too, gets a copy of its own, as when each ran the demo itself: a
    home is one process's (DuckDB lets one process write a warehouse, and tests here attest in it again)."""
    from orchestration.attestations import demo_sign_off
    from orchestration.instance import instance_for
    from orchestration.pipeline import run_demo

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    # The mutation gate (tests/mutation) keeps the demo of its baseline run for the mutants of the checks.
    shared = Path(os.environ.get("BACKED_TEST_CLEAN_DEMO_DIR", shared))
    demo = shared / "clean_demo"
    with open(shared / "clean_demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (demo / "result.pickle").exists():
            # signed and published as `backed demo` does; verified by tests/test_attestation_integrity.py
            result = run_demo(demo / "home", days=DAYS, seed=7, start=START, echo=lambda m: None,
                              sign_off=demo_sign_off(verify_it=False))
            (demo / "result.pickle").write_bytes(pickle.dumps(result))
    result = pickle.loads((demo / "result.pickle").read_bytes())
    home = tmp_path_factory.mktemp("clean") / "home"
    shutil.copytree(demo / "home", home)
    instance_for(home)  # the Dagster instance and data home the demo's process is left on, as run_demo leaves them
    if os.environ.get("BACKED_TEST_REBUILD_CHECK_VIEWS"):
        rebuild_check_views(home)
    return home, replace(result, home=home, attestations={day: home / path.relative_to(result.home)
                                                           for day, path in result.attestations.items()})


def rebuild_check_views(home: Path) -> None:
    """The reconciliation checks' models (views) of `home`'s warehouse rebuilt from the project under test: a demo
    built by other code then answers with this project's checks."""
    import subprocess

    from assets.ledger import DBT_PROJECT_DIR, DUCKDB_DBT, dbt_environment, home_vars, vars_args
    from foundation.home import DataHome

    subprocess.run([str(DUCKDB_DBT), "run", "--quiet", "--select", "path:models/reconciliation",
                    "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                    "--target-path", str(home / "dbt_check_views"), *vars_args(home_vars(DataHome(home)))],
                   env={**os.environ, **dbt_environment(DataHome(home))}, check=True, capture_output=True)


# The files that run whole demos of their own, longest first (by their times on a 2-core machine). `make test` and
# `make reliability` hand whole files to two workers in collection order: started first, the longest overlap the
# many short files instead of finishing alone at the end. The files of `long` tests lead, for `make reliability`;
# `make test` deselects their tests.
LONGEST_FIRST = (
    "test_spark_engine.py", "test_ledger_sandbox_30_days.py", "test_spark_telemetry.py", "test_warehouse_upgrade.py",
    "test_ledger_dbt.py", "test_guides.py", "test_reconciliation_checks.py", "test_known_answers.py",
    "test_definitions.py", "test_idempotency.py", "test_fuzz_parsers.py", "test_fuzz_at_scale.py", "test_end_to_end.py",
    "test_chain_production.py", "test_browser.py", "test_check_tolerances.py", "test_dbt_docs.py",
    "test_chain_lying_nodes.py", "test_attestation.py", "test_attestation_integrity.py", "test_inbox_arrivals.py",
    "test_backfill.py", "test_crash_safety.py", "test_restatement_depth.py", "test_sandbox_cli.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable: the rest keep their order
