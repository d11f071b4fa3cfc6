"""The Dagster instance lives in BACKED_HOME/dagster, with the warehouse pool limited to one writer.

This module is where a command's values become the environment of the processes Dagster starts. Dagster names its
instance by `DAGSTER_HOME` only (`DagsterInstance.get()`, its public way in); the code server and the run workers it
starts load the code location of workspace.yaml, which finds the data home and the chain profile in `BACKED_HOME` and
`BACKED_PROFILE`; and they all inherit this process's environment, with no public way to hand them values. So
`instance_for` writes those variables, here and nowhere else; everything in this process takes values.

Its storage (runs, event logs, schedules) is SQLite files in that folder, the event log's written through
orchestration/event_log_storage.py (Dagster's own, keeping its connections), unless BACKED_DAGSTER_PG_URL holds a
`postgresql://` URL: then it is that PostgreSQL database (dagster-postgres), which the runs of a parallel backfill
write concurrently without SQLite's file locks. The URL may hold a password: dagster.yaml names the variable
(`env: BACKED_DAGSTER_PG_URL`), never its value, and every process of the instance reads it from its environment.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import yaml

from foundation.home import HOME_ENV, DataHome

PG_URL_ENV = "BACKED_DAGSTER_PG_URL"
# The chain profile of the code location (orchestration.definitions): sandbox unless set.
PROFILE_ENV = "BACKED_PROFILE"
# Optional: how many runs the run queue launches at once (Dagster's default is 10); 1 runs a backfill serially.
MAX_RUNS_ENV = "BACKED_MAX_CONCURRENT_RUNS"
# Optional: where runs are launched (docs/deployment.md): `module:Class` of a Dagster run launcher (Dagster's
# DefaultRunLauncher, a process per run beside the daemon, unless set), and its config as JSON.
RUN_LAUNCHER_ENV = "BACKED_DAGSTER_RUN_LAUNCHER"
RUN_LAUNCHER_CONFIG_ENV = "BACKED_DAGSTER_RUN_LAUNCHER_CONFIG"


class InstanceMisconfigured(ValueError):
    """A variable of the environment that configures the Dagster instance does not say what it must."""
MARKER = "# Written by backed."

DAGSTER_YAML = """\
# Written by backed. DuckDB allows one writer process per database file: one slot in the warehouse pool.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
"""

SQLITE_EVENT_LOG = """\
event_log_storage:
  module: orchestration.event_log_storage
  class: SqliteEventLogKeepingEngines
  config:
    dagster_home:
      env: DAGSTER_HOME
"""

POSTGRES_STORAGE = f"""\
# PostgreSQL storage because {PG_URL_ENV} was set when this file was written; the URL is read from it at run time.
storage:
  postgres:
    postgres_url:
      env: {PG_URL_ENV}
"""


def dagster_yaml() -> str:
    """What backed writes as dagster.yaml in the current environment. Runs are submitted to Dagster's run queue
    (its QueuedRunCoordinator, the default): the daemon, or `backed backfill` without one, launches them up to the
    limit, through the run launcher the environment names."""
    text = DAGSTER_YAML
    max_runs = os.environ.get(MAX_RUNS_ENV, "").strip()
    if max_runs:
        if not max_runs.isdigit() or int(max_runs) < 1:
            raise InstanceMisconfigured(f"{MAX_RUNS_ENV}={max_runs!r}: how many runs may run at once, a whole "
                                        "number of 1 or more")
        text = text.replace("concurrency:\n", f"concurrency:\n  runs:\n    max_concurrent_runs: {int(max_runs)}\n", 1)
    return text + run_launcher_yaml() + (POSTGRES_STORAGE if os.environ.get(PG_URL_ENV, "").strip()
                                         else SQLITE_EVENT_LOG)


def run_launcher_yaml() -> str:
    """dagster.yaml's run_launcher from BACKED_DAGSTER_RUN_LAUNCHER (`module:Class`) and its config (JSON, written
    as it is: a secret in it belongs in an `{"env": NAME}` value, as Dagster reads them); empty without it."""
    named = os.environ.get(RUN_LAUNCHER_ENV, "").strip()
    if not named:
        return ""
    module, _, class_name = named.partition(":")
    if not (module and class_name and all(part.isidentifier() for part in (*module.split("."), class_name))):
        raise InstanceMisconfigured(f"{RUN_LAUNCHER_ENV}={named!r}: name a run launcher as module:Class, e.g. "
                                    "dagster:DefaultRunLauncher or dagster_docker:DockerRunLauncher")
    config = os.environ.get(RUN_LAUNCHER_CONFIG_ENV, "").strip() or "{}"
    try:
        parsed = json.loads(config)
    except json.JSONDecodeError as error:
        raise InstanceMisconfigured(f"{RUN_LAUNCHER_CONFIG_ENV} is not JSON ({error.msg} at character "
                                    f"{error.pos}): the run launcher's config as a JSON object") from None
    if not isinstance(parsed, dict):
        raise InstanceMisconfigured(f"{RUN_LAUNCHER_CONFIG_ENV} must be a JSON object (the run launcher's config)")
    launcher = {"run_launcher": {"module": module, "class": class_name, **({"config": parsed} if parsed else {})}}
    return f"# The run launcher {RUN_LAUNCHER_ENV} named when this file was written.\n" + yaml.safe_dump(
        launcher, sort_keys=False)


def _psycopg2_url() -> None:
    """Name the driver dagster-postgres installs (psycopg2) in BACKED_DAGSTER_PG_URL.

    SQLAlchemy 2.1 maps a bare `postgresql://` to psycopg 3, which is not installed. Set in this process's
    environment, the fixed URL reaches what it starts: the code server and the runs.
    """
    url = os.environ.get(PG_URL_ENV, "").strip()
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            os.environ[PG_URL_ENV] = "postgresql+psycopg2://" + url[len(scheme):]


def dagster_home(home: DataHome) -> Path:
    _psycopg2_url()
    path = home.dagster
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    wanted = dagster_yaml()
    # A dagster.yaml backed wrote follows the environment (storage, run limit); one edited by hand is left alone.
    written = config.read_text() if config.exists() else None
    if written is None or (written.startswith(MARKER) and written != wanted):
        config.write_text(wanted)
    return path


def instance_for(home: DataHome | Path, profile: str | None = None) -> dg.DagsterInstance:
    """The Dagster instance of `home`; the processes it starts work on `home` (and on the chain `profile`, if given)."""
    home = DataHome.of(home)
    os.environ["DAGSTER_HOME"] = str(dagster_home(home))
    os.environ[HOME_ENV] = str(home.root)
    if profile:
        os.environ[PROFILE_ENV] = profile
    return dg.DagsterInstance.get()
