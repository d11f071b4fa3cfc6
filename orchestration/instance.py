"""The Dagster instance lives in BACKED_HOME/dagster, with the warehouse pool limited to one writer."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

DAGSTER_YAML = """\
# Written by backed. DuckDB allows one writer process per database file: one slot in the warehouse pool.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""


def dagster_home(home: Path) -> Path:
    path = home / "dagster"
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return path


def instance_for(home: Path) -> dg.DagsterInstance:
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    return dg.DagsterInstance.get()
