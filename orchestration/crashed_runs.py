"""Runs whose process died (kill -9, out of memory, a power cut) while executing in-process, and the pool slots
they still hold.

`backed demo`, `backed attest` (and run_pipeline) execute their runs in their own process (`execute_in_process`),
with no daemon watching. A step of the `warehouse` pool (dbt, the checks, the attestation; limit 1, see
foundation/pools.py) claims the pool's slot in the instance's storage and gives it back when it ends. A process
killed in such a step never gives it back and its run stays STARTED, so every later run waits forever for the
warehouse slot (tests/test_crash_safety.py re-runs after a `kill -9` during `dbt build`).

Each in-process run is tagged with the process running it (pid, host, the process's start time so that a reused
pid is not taken for the same process). Before running anything, `release_crashed_runs` marks failed the runs of
this host whose process is gone, and frees the slots of every run that has ended. Runs launched by a daemon or a
run launcher carry no such tags and are left to Dagster's run monitoring.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import dagster as dg
from foundation.lake import process_alive

PID_TAG = "backed/pid"
HOST_TAG = "backed/host"
PROCESS_START_TAG = "backed/process_start"

UNFINISHED_RUNS = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING]


def process_tags() -> dict[str, str]:
    """The tags that tie a run executed in this process to it."""
    return {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname(),
            PROCESS_START_TAG: _process_start(os.getpid()) or ""}


def release_crashed_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the in-process runs of this host whose process is gone; free the pool slots of ended runs.

    Returns the ids of the runs marked failed."""
    crashed = []
    records = instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED_RUNS,
                                                             tags={HOST_TAG: socket.gethostname()}))
    for record in records:
        run = record.dagster_run
        try:
            pid = int(run.tags.get(PID_TAG, ""))
        except ValueError:
            continue
        if _alive(pid, run.tags.get(PROCESS_START_TAG) or None):
            continue
        instance.report_run_failed(run, f"the process that ran it (pid {pid}) died before the run ended; "
                                        "marked failed and its pool slots released")
        crashed.append(run.run_id)
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        for run_id in storage.get_concurrency_run_ids():
            run = instance.get_run_by_id(run_id)
            if run is None or run.is_finished:
                free_pool_slots(instance, run_id)
    return crashed


def free_pool_slots(instance: dg.DagsterInstance, run_id: str) -> None:
    """Give back every pool slot the run holds (where the instance's storage keeps pools)."""
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        storage.free_concurrency_slots_for_run(run_id)


def release_run(instance: dg.DagsterInstance, run: dg.DagsterRun, reason: str) -> None:
    """Mark an unfinished run failed (the UI and the backfill see it failed, not running) and free its pool slots."""
    instance.report_run_failed(run, reason)
    free_pool_slots(instance, run.run_id)


def run_worker(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """The process that last reported an event of the run, and when: the events a run's process writes carry its pid.
    None when none of its latest events does (a run that has not started, or one reported from outside)."""
    records = instance.get_records_for_run(run_id, limit=20, ascending=False).records
    for record in records:
        event = record.event_log_entry.dagster_event
        if event is not None and event.pid is not None:
            return event.pid, record.event_log_entry.timestamp
    return None


def worker_is_gone(pid: int, last_event_at: float) -> bool:
    """No process `pid` on this host, or one started after the run's last event (the pid was reused)."""
    started = _started_at(pid)
    if started is None:
        return not _alive(pid, None)
    return started > last_event_at + 1


def release_dead_workers(instance: dg.DagsterInstance, run_filter: dg.RunsFilter, quiet_for: float = 60) -> list[str]:
    """Mark failed the unfinished runs matching `run_filter` whose worker process is gone from this host (killed, out
    of memory), once they have been quiet for `quiet_for` seconds; free their slots. For runs a launcher started
    on this host without a daemon's run monitoring to notice (`backed backfill` running a backfill itself)."""
    released = []
    for record in instance.get_run_records(filters=run_filter):
        run = record.dagster_run
        if run.status not in UNFINISHED_RUNS:
            continue
        worker = run_worker(instance, run.run_id)
        if worker is None or time.time() - worker[1] < quiet_for or not worker_is_gone(*worker):
            continue
        release_run(instance, run, f"its process (pid {worker[0]}) is gone: the run died before it ended; marked "
                                   "failed and its pool slots released")
        released.append(run.run_id)
    return released


def _started_at(pid: int) -> float | None:
    """When the process started, in Unix seconds (Linux); None when that can't be read."""
    ticks = _process_start(pid)
    try:
        boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration):
        return None
    return None if ticks is None else boot + int(ticks) / os.sysconf("SC_CLK_TCK")


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), None when there is no such process (or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # fields after the command name (which may hold spaces) start at field 3; starttime is field 22
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: int, started: str | None) -> bool:
    if Path("/proc/self/stat").exists():
        now = _process_start(pid)
        return now is not None and (started is None or now == started)
    return process_alive(pid)
