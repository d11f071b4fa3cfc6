"""The deployment for many machines (docs/deployment.md): the Dagster instance on PostgreSQL, a real
`dagster-daemon` loading the one code location of workspace.yaml, and two backfills submitted at once
(`backed backfill --submit-only`) that the daemon's run queue (the QueuedRunCoordinator) launches through the run
launcher the environment names, never more runs at a time than BACKED_MAX_CONCURRENT_RUNS.

Real anvil (the simulated days' files), real Dagster processes, a real PostgreSQL database created for the test.
The unit tests beside it hold the environment's configuration of the instance and the executor to what it says.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from foundation.home import DataHome

START = date(2026, 1, 1)
DAYS = 6
CLI = Path(sys.executable).parent / "backed"
DAEMON = Path(sys.executable).parent / "dagster-daemon"
REPO = Path(__file__).resolve().parent.parent
# The off-chain sources: each day's files are read on their own, so the two backfills' days do not depend on each
# other, and no chain node needs to serve while they run.
SELECT = "group:loan_books or group:telemetry or group:custodian"
MAX_RUNS = 2


def environment(home: Path, postgres_url: str) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BACKED_"))}
    return {**kept, "BACKED_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
            # as a deployment writes it for the daemon, which backed does not start (docs/deployment.md)
            "BACKED_DAGSTER_PG_URL": postgres_url.replace("postgresql://", "postgresql+psycopg2://", 1),
            "BACKED_MAX_CONCURRENT_RUNS": str(MAX_RUNS),
            "BACKED_DAGSTER_RUN_LAUNCHER": "dagster:DefaultRunLauncher", "BACKED_BACKFILL_PARTITIONS_PER_RUN": "1",
            "DAGSTER_DISABLE_TELEMETRY": "1", "BACKED_INBOX_QUIET_SECONDS": "0"}


def submit(home: Path, env: dict[str, str], first: date, last: date) -> subprocess.Popen:
    return subprocess.Popen([str(CLI), "--home", str(home), "backfill", "--submit-only", "--from", first.isoformat(),
                             "--to", last.isoformat(), "--select", SELECT, "--exact"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float, what: str, poll: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def most_runs_at_once(instance: dg.DagsterInstance) -> tuple[int, int]:
    """The most runs in progress at one moment, from the runs' start and end times: of any run, and of runs of
    different backfills."""
    records = [record for record in instance.get_run_records() if record.start_time and record.end_time]
    edges = sorted(edge for record in records for edge in ((record.start_time, 1), (record.end_time, -1)))
    running = most = 0
    for _, change in edges:
        running += change
        most = max(most, running)
    backfill_runs = [(r.start_time, r.end_time, r.dagster_run.tags.get("dagster/backfill")) for r in records
                     if r.dagster_run.tags.get("dagster/backfill")]
    across = max((sum(1 for other in backfill_runs if other[0] < run[1] and run[0] < other[1] and other[2] != run[2])
                  for run in backfill_runs), default=0)
    return most, across


@pytest.mark.long
def test_two_backfills_at_once_through_the_daemons_run_queue_on_postgres(tmp_path, postgres_url, monkeypatch):
    from sandbox.anvil import AnvilNode
    from sandbox.simulator import genesis_timestamp, simulate

    home = tmp_path / "home"
    with AnvilNode(genesis_timestamp(START)) as node:
        simulate(home, node.rpc_url, days=DAYS, seed=7, start=START)
    env = environment(home, postgres_url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    from orchestration.instance import instance_for

    instance = instance_for(DataHome(home))  # writes dagster.yaml from the environment
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
    assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"

    log = (tmp_path / "daemon.log").open("w")
    daemon = subprocess.Popen([str(DAEMON), "run", "-w", str(REPO / "workspace.yaml")], cwd=REPO, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: "BACKFILL" in instance.get_daemon_heartbeats(), 180, "the daemon's first heartbeat")
        middle = START + timedelta(days=DAYS // 2)
        submitted = [submit(home, env, START, middle - timedelta(days=1)),
                     submit(home, env, middle, START + timedelta(days=DAYS - 1))]
        for process in submitted:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err[-3000:]

        def finished():
            backfills = instance.get_backfills()
            return len(backfills) == 2 and all(b.status.value != "REQUESTED" for b in backfills) \
                and backfills
        backfills = wait_for(finished, 900, "both backfills to finish")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()

    assert {b.status.value for b in backfills} == {"COMPLETED_SUCCESS"}, \
        [(b.backfill_id, b.status) for b in backfills] + [(tmp_path / "daemon.log").read_text()[-3000:]]
    # the daemon's sensors launch runs of their own (the inbox's files, the snapshot): the backfills' are these
    runs = [run for run in instance.get_runs() if run.tags.get("dagster/backfill")]
    assert len(runs) >= DAYS and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}, \
        [(run.job_name, run.status.value) for run in instance.get_runs()]
    assert {run.tags["dagster/backfill"] for run in runs} == {b.backfill_id for b in backfills}
    # every run went through the queue: enqueued by the coordinator, then started when the daemon dequeued it (the
    # commands only submitted the backfills)
    for run in runs:
        kinds = {record.event_log_entry.dagster_event.event_type
                 for kind in (dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING)
                 for record in instance.get_records_for_run(run.run_id, of_type=kind).records}
        assert kinds == {dg.DagsterEventType.RUN_ENQUEUED, dg.DagsterEventType.RUN_STARTING}, run.run_id
    # the two backfills ran side by side, and the queue held every run to its limit
    most, across_backfills = most_runs_at_once(instance)
    assert most <= MAX_RUNS and across_backfills >= 1, (most, across_backfills)
    # each day of each source reached the lake once
    lake = DataHome(home).lake
    for table in ("loan_tapes", "gpu_telemetry_daily", "custodian_statements"):
        days = sorted(path.parent.name for path in (lake / table).glob("date=*/part-0.parquet"))
        assert days == [f"date={START + timedelta(days=n)}" for n in range(DAYS)], table


def test_the_run_launcher_comes_from_the_environment(monkeypatch, tmp_path):
    from orchestration.instance import InstanceMisconfigured, dagster_yaml

    monkeypatch.delenv("BACKED_DAGSTER_RUN_LAUNCHER", raising=False)
    assert "run_launcher" not in dagster_yaml()
    monkeypatch.setenv("BACKED_DAGSTER_RUN_LAUNCHER", "dagster_docker:DockerRunLauncher")
    monkeypatch.setenv("BACKED_DAGSTER_RUN_LAUNCHER_CONFIG", '{"network": "backed", "env_vars": ["BACKED_HOME"]}')
    written = dagster_yaml()
    assert "module: dagster_docker\n  class: DockerRunLauncher\n  config:\n    network: backed\n" in written
    monkeypatch.setenv("BACKED_DAGSTER_RUN_LAUNCHER", "dagster:DefaultRunLauncher")
    monkeypatch.delenv("BACKED_DAGSTER_RUN_LAUNCHER_CONFIG")
    (tmp_path / "dagster.yaml").write_text(dagster_yaml())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    assert type(dg.DagsterInstance.get().run_launcher).__name__ == "DefaultRunLauncher"
    for launcher, config in (("DefaultRunLauncher", "{}"), ("dagster:DefaultRunLauncher", "[1]"),
                             ("dagster:DefaultRunLauncher", "{not json")):
        monkeypatch.setenv("BACKED_DAGSTER_RUN_LAUNCHER", launcher)
        monkeypatch.setenv("BACKED_DAGSTER_RUN_LAUNCHER_CONFIG", config)
        with pytest.raises(InstanceMisconfigured, match="BACKED_DAGSTER_RUN_LAUNCHER"):
            dagster_yaml()
    monkeypatch.setenv("BACKED_MAX_CONCURRENT_RUNS", "0")
    monkeypatch.delenv("BACKED_DAGSTER_RUN_LAUNCHER")
    with pytest.raises(InstanceMisconfigured, match="BACKED_MAX_CONCURRENT_RUNS"):
        dagster_yaml()


def test_the_executor_comes_from_the_environment(monkeypatch):
    from orchestration.definitions import build_definitions
    from orchestration.executors import ExecutorMisconfigured, run_executor

    monkeypatch.delenv("BACKED_DAGSTER_EXECUTOR", raising=False)
    assert run_executor() is dg.in_process_executor
    monkeypatch.setenv("BACKED_DAGSTER_EXECUTOR", "multiprocess")
    monkeypatch.setenv("BACKED_DAGSTER_MAX_CONCURRENT_STEPS", "3")
    assert build_definitions().resolve_job_def("daily_pipeline").executor_def.name == "multiprocess_executor"
    for named, limit in (("celery", ""), ("no_such_module:executor", ""), ("dagster:AssetKey", ""),
                         ("multiprocess", "many")):
        monkeypatch.setenv("BACKED_DAGSTER_EXECUTOR", named)
        monkeypatch.setenv("BACKED_DAGSTER_MAX_CONCURRENT_STEPS", limit)
        with pytest.raises(ExecutorMisconfigured, match="BACKED_DAGSTER_"):
            run_executor()
