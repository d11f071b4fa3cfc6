"""The Dagster instance lives in BACKED_HOME/dagster, with the warehouse pool limited to one writer.

Its storage (runs, event logs, schedules) is SQLite files in that folder unless BACKED_DAGSTER_PG_URL holds a
`postgresql://` URL: then it is that PostgreSQL database (dagster-postgres), which the runs of a parallel backfill
write concurrently without SQLite's file locks. The URL may hold a password: dagster.yaml names the variable
(`env: BACKED_DAGSTER_PG_URL`), never its value, and every process of the instance reads it from its environment.
"""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

PG_URL_ENV = "BACKED_DAGSTER_PG_URL"
# Optional: how many runs the run queue launches at once (Dagster's default is 10); 1 runs a backfill serially.
MAX_RUNS_ENV = "BACKED_MAX_CONCURRENT_RUNS"
MARKER = "# Written by backed."

DAGSTER_YAML = """\
# Written by backed. DuckDB allows one writer process per database file: one slot in the warehouse pool.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""

POSTGRES_STORAGE = f"""\
# PostgreSQL storage because {PG_URL_ENV} was set when this file was written; the URL is read from it at run time.
storage:
  postgres:
    postgres_url:
      env: {PG_URL_ENV}
"""


def dagster_yaml() -> str:
    """What backed writes as dagster.yaml in the current environment."""
    text = DAGSTER_YAML
    max_runs = os.environ.get(MAX_RUNS_ENV, "").strip()
    if max_runs:
        text = text.replace("concurrency:\n", f"concurrency:\n  runs:\n    max_concurrent_runs: {int(max_runs)}\n", 1)
    if os.environ.get(PG_URL_ENV, "").strip():
        text += POSTGRES_STORAGE
    return text


def _psycopg2_url() -> None:
    """Name the driver dagster-postgres installs (psycopg2) in BACKED_DAGSTER_PG_URL.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which is not installed. Set in this process's
    environment, the fixed URL reaches what it starts: the code server and the runs.
    """
    url = os.environ.get(PG_URL_ENV, "").strip()
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            os.environ[PG_URL_ENV] = "postgresql+psycopg2://" + url[len(scheme):]


def dagster_home(home: Path) -> Path:
    _psycopg2_url()
    path = home / "dagster"
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    wanted = dagster_yaml()
    # A dagster.yaml backed wrote follows the environment (storage, run limit); one edited by hand is left alone.
    written = config.read_text() if config.exists() else None
    if written is None or (written.startswith(MARKER) and written != wanted):
        config.write_text(wanted)
    return path


def instance_for(home: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    return dg.DagsterInstance.get()
