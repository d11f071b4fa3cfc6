"""Backfills through the Dagster instance: the same record the UI's "Launch backfill" creates, run to the end.

Dagster's public interfaces: its GraphQL API (what the UI itself calls) to launch and re-execute backfills, run by
the `dagster-graphql` command against the code location of workspace.yaml; `DagsterInstance` to read their
progress. One exception, in `_run_backfill_here`, says why.

`launch_backfill` adds an asset backfill to the instance in BACKED_HOME/dagster (GraphQL `launchPartitionBackfill`),
so it is listed on the UI's Backfills page with its runs. `drive_backfill` then does what a Dagster daemon would: it
runs the backfill daemon's iteration (which submits the runs the backfill is ready for) and the run queue's iteration
(which launches them) until the backfill reaches a final status, so a backfill completes with no daemon running.
When a daemon is running (`dagster dev`), it runs the backfill and `drive_backfill` only follows its progress.

A backfill interrupted (Ctrl-C, a crash) stays `REQUESTED` and `resume_backfill` carries on from where it was;
one that finished with failures is re-executed from failure (GraphQL `reexecutePartitionBackfill`, what the UI's
"Re-execute from failure" calls: a new backfill of what was not materialised, tagged with its parent).

Parallel backfills (BACKED_BACKFILL_PARTITIONS_PER_RUN=N, see foundation.partitions): the off-chain sources run
N days per run, several runs at once, while the chain is ingested in order in its own run. The ledger must not start
on the days ingested first while earlier ones are still running (it carries balances forward from day to day, and
Dagster would hand it whichever days' parents finished), so a backfill selecting both ingestion and what is built on
it is launched in two stages: the ingestion, then, once it completed, the rest (the ledger, its checks, the
attestations) as a second backfill tagged with the first. `drive_backfill` and `resume_backfill` go on to it.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

import dagster as dg

from orchestration.crashed_runs import (UNFINISHED_RUNS, free_pool_slots, release_dead_workers, release_run,
                                        run_worker, worker_is_gone)
from orchestration.instance import PG_URL_ENV, instance_for
from orchestration.step_errors import step_error
from orchestration.jobs import DAILY_PIPELINE_SELECTION, INBOX_INTAKE, INGESTION, LEDGER, TAKEN_IN_FILES_READERS
from foundation.partitions import partitions_per_run
from foundation.pools import WAREHOUSE_POOL

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKSPACE_FILE = REPO_ROOT / "workspace.yaml"
CHAIN_GROUP = "chain"

# Dagster's own event log stays in the run (the UI), not the terminal. (Steps run in the run's process: the
# Definitions' executor.)
BACKFILL_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# A daemon that beat within this many seconds is alive: it runs the backfill, we only watch.
DAEMON_ALIVE_SECONDS = 90
BACKFILL_DAEMON = "BACKFILL"  # the backfill daemon's name in the instance's daemon heartbeats
# A backfill with nothing materialised, failed or changed in its runs for this long is stalled: the command stops and
# says why. A day's dbt build reports each model as it finishes, so a healthy backfill moves well within it.
STALL_SECONDS_ENV = "BACKED_BACKFILL_STALL_SECONDS"
DEFAULT_STALL_SECONDS = 900
# A backfill with one of these statuses is still running (or stopping its runs); any other status is final.
UNFINISHED = ("REQUESTED", "CANCELING", "FAILING")
# A parallel backfill's first stage (the ingestion) names what its second stage materialises: asset keys and days.
NEXT_STAGE_TAG = "backed/next_stage"
PREVIOUS_STAGE_TAG = "backed/previous_stage"
TITLE_MAX = 100  # Dagster's limit on a backfill's title

LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""
REEXECUTE_BACKFILL = """
mutation ReexecuteBackfill($params: ReexecutionParams!) {
  reexecutePartitionBackfill(reexecutionParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""


class BackfillError(Exception):
    """The backfill can't be launched or resumed as asked."""


class SelectionError(BackfillError):
    """The range or the selection asked for can't be: a usage mistake."""


class BackfillStalled(BackfillError):
    """The backfill made no progress for the time allowed; the message says why and what to run."""


@dataclass(frozen=True)
class BackfillProgress:
    backfill_id: str
    status: str
    elapsed_s: float
    asset_partitions: int
    materialized: int
    failed: int
    in_progress: int
    runs: dict[str, int]

    def line(self) -> str:
        runs = ", ".join(f"{count} {status.lower()}" for status, count in sorted(self.runs.items())) or "none yet"
        return (f"[{self.elapsed_s:5.0f}s] backfill {self.backfill_id} {self.status.lower()}: "
                f"{self.materialized}/{self.asset_partitions} asset partitions materialised, {self.failed} failed, "
                f"{self.in_progress} in progress; runs: {runs}")

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


def _selection(select: str | None) -> dg.AssetSelection:
    if not select:
        return DAILY_PIPELINE_SELECTION
    try:
        return dg.AssetSelection.from_string(select)
    except Exception as error:  # Dagster raises several kinds for a selection it can't parse
        raise SelectionError(f"--select {select!r}: {error}") from None


def _days(first: date, last: date) -> list[str]:
    if last < first:
        raise SelectionError(f"--to {last} is before --from {first}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def check_chain_profile(home: Path) -> None:
    """Fail before launching when the runs would read the chain and the chain profile can't be loaded."""
    from assets.chain.profiles import ProfileError, load_profile
    from assets.chain.rpc import JsonRpcClient, RpcUnavailable

    profile = os.environ.get("BACKED_PROFILE", "sandbox")
    try:
        chain = load_profile(profile, home)
    except ProfileError as error:
        raise BackfillError(f"chain profile {profile}: {error}") from None
    # One quick question to the node, so that a chain that is not there fails now, not after the runs' retries.
    try:
        with JsonRpcClient(chain.rpc_url, timeout=5, attempts=1) as client:
            client.call("eth_chainId")
    except RpcUnavailable:
        where = (f"the sandbox chain of {home} does not answer (it stops with the demo): `backed sandbox up` brings "
                 "it back" if profile == "sandbox" else
                 f"the {profile} profile's node (BACKED_RPC_URL) does not answer: check the URL and the provider")
        raise BackfillError(f"{where}; or --select what does not read the chain, e.g. 'group:ledger'") from None


def stale_reads(instance: dg.DagsterInstance, asset_graph, keys: set[dg.AssetKey],
                days: list[str]) -> set[dg.AssetKey]:
    """What `keys` read from the dbt build (the models upstream of them, the views their checks read and those views'
    own upstream models) that must be rebuilt first for `days`: a model whose day was never materialised, or was
    materialised before one of its parents was last (a corrected tape taken in since, a staging model rebuilt), and
    every model between such a one and `keys`. A mart rebuilt over stale staging restates nothing (the corrected
    tape's exception stays open); a check over a view never built fails. Ingestion is never added: it reads the
    chain and the inbox (`backed ingest` takes new files in and records them here)."""
    ledger = LEDGER.resolve(asset_graph)

    def reads_of(targets: set[dg.AssetKey]) -> set[dg.AssetKey]:
        checked = {dep.asset_key for check in asset_graph.get_check_keys_for_assets(targets)
                   for dep in asset_graph.get_check_spec(check).additional_deps} & ledger
        return {key for key in (dg.AssetSelection.assets(*(targets | checked)).upstream() & LEDGER)
                .resolve(asset_graph) if asset_graph.get(key).is_materializable} - keys

    latest: dict[dg.AssetKey, dict[str, int]] = {}

    def materialised(key: dg.AssetKey) -> dict[str, int]:
        """The storage id of the key's latest materialisation, per day (under every day when it is unpartitioned)."""
        if key not in latest:
            if asset_graph.get(key).is_partitioned:
                latest[key] = dict(instance.get_latest_storage_id_by_partition(
                    key, dg.DagsterEventType.ASSET_MATERIALIZATION, set(days)))
            else:
                records = instance.fetch_materializations(key, limit=1).records
                latest[key] = {day: records[0].storage_id for day in days} if records else {}
        return latest[key]

    def stale_of(reads: set[dg.AssetKey]) -> set[dg.AssetKey]:
        stale: set[dg.AssetKey] = set()
        for key in asset_graph.toposorted_asset_keys:
            if key not in reads:
                continue
            own = materialised(key)
            parents = [parent for parent in asset_graph.get(key).parent_keys if asset_graph.has(parent)]
            if (any(parent in stale for parent in parents) or any(day not in own for day in days)
                    or any(materialised(parent).get(day, 0) > own[day] for parent in parents for day in days)):
                stale.add(key)
        return stale

    # A model added runs its own checks, which read models of their own (journal_lines' R11 reads the inputs'
    # hashes): what they read is added too, until nothing more is.
    reads = reads_of(keys)
    stale = stale_of(reads)
    while (more := reads_of(keys | stale)) - reads:
        reads |= more
        stale = stale_of(reads)
    return stale


def backfill_keys(home: Path, days: list[str], select: str | None = None, exact: bool = False,
                  echo: Callable[[str], None] = lambda line: None) -> tuple[set[dg.AssetKey], object]:
    """The asset keys a backfill of `select` (default: the daily pipeline) over `days` materialises, and the asset
    graph: a selection takes in what it reads from the dbt build that is stale for these days (`stale_reads`) unless
    `exact`, the models in its gaps, and the inbox's intake before an off-chain source; `echo` is told what was
    added. Refuses (before anything is launched) a home whose reconciliation.toml cannot be read, a chain that does
    not answer when the selection reads it, a selection that selects nothing or has a gap outside the dbt build."""
    from expectations.policy import ReconciliationPolicy
    from orchestration.definitions import build_definitions

    try:
        ReconciliationPolicy.for_home(home)  # the runs read it: a mistake in it fails here, not in every run
    except ValueError as error:
        raise BackfillError(str(error)) from None
    if select is None:
        # The daily pipeline reads the chain: say what the profile lacks before loading the code location.
        check_chain_profile(home)
    instance = instance_for(home)  # BACKED_HOME/dagster, in DAGSTER_HOME for the Dagster commands started after
    asset_graph = build_definitions(home).resolve_asset_graph()
    try:
        keys = _selection(select).resolve(asset_graph)
    except dg.DagsterInvalidSubsetError as error:
        raise SelectionError(f"--select {select!r}: {error}") from None
    keys = {key for key in keys if asset_graph.get(key).is_materializable}
    if not keys:
        raise SelectionError(f"--select {select!r} selects no asset")
    if select is not None and not exact:
        added = stale_reads(instance, asset_graph, keys, days)
        if added:
            echo(f"--select {select!r} reads {len(added)} models of the dbt build that are not up to date for these "
                 f"days, added to the backfill (--exact leaves them out): {_names(added)}")
        keys |= added
    keys |= _gaps_filled(keys, asset_graph, select, echo)
    if select is not None and any(asset_graph.get(key).group_name == CHAIN_GROUP for key in keys):
        check_chain_profile(home)
    if keys & TAKEN_IN_FILES_READERS.resolve(asset_graph):
        # The off-chain sources read the files the inbox took in: a selection of one of them takes the inbox in first.
        keys |= INBOX_INTAKE.resolve(asset_graph)
    return keys, asset_graph


def launch_backfill(home: Path, first: date, last: date, select: str | None = None, exact: bool = False,
                    echo: Callable[[str], None] = lambda line: None) -> str:
    """Add an asset backfill of `backfill_keys` over [first, last] to the instance; returns its id."""
    days = _days(first, last)
    keys, asset_graph = backfill_keys(home, days, select, exact, echo)
    tags = {"backed/launched_by": "backed backfill"}
    title = f"{days[0]} .. {days[-1]}" + (f" ({select})" if select else " (daily pipeline)")
    ingestion = keys & INGESTION.resolve(asset_graph)
    if partitions_per_run() is not None and ingestion and keys - ingestion:
        # Parallel: the ingestion first; the rest once every day is ingested (see the module's docstring).
        tags[NEXT_STAGE_TAG] = json.dumps({"assets": sorted(key.to_user_string() for key in keys - ingestion),
                                           "days": days})
        keys, title = ingestion, f"{title}, stage 1: ingestion"
    return _add_backfill(days, keys, tags, title,
                         f"backed backfill --from {first} --to {last}" + (f" --select {select!r}" if select else ""))


def _gaps_filled(keys: set[dg.AssetKey], asset_graph, select: str | None,
                 echo: Callable[[str], None]) -> set[dg.AssetKey]:
    """The assets between two selected ones that the selection leaves out. Dagster's backfill starts from the
    selection's roots and follows it downstream, so whatever lies past such a gap would be silently left out: the
    dbt build's models in a gap are added, anything else (an ingestion) refuses the selection."""
    selected = dg.AssetSelection.assets(*keys)
    gaps = {key for key in (selected.downstream() & selected.upstream()).resolve(asset_graph) - keys
            if asset_graph.get(key).is_materializable}
    outside = gaps - LEDGER.resolve(asset_graph)
    if outside:
        raise SelectionError(f"--select {select!r} leaves out {_names(outside)}, which lie between assets it selects: "
                            "a backfill would skip everything after them. Select them too, or select less")
    if gaps:
        echo(f"--select {select!r} leaves out {len(gaps)} models of the dbt build between assets it selects, added "
             f"to the backfill: {_names(gaps)}")
    return gaps


def _names(keys: set[dg.AssetKey], shown: int = 6) -> str:
    names = sorted(key.to_user_string() for key in keys)
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _add_backfill(days: list[str], keys, tags: dict[str, str], title: str, description: str) -> str:
    if len(title) > TITLE_MAX:  # Dagster refuses longer titles; a long --select made one (the description has it all)
        title = title[:TITLE_MAX - 3] + "..."
    answer = _graphql(LAUNCH_BACKFILL, {"params": {
        "partitionNames": days,
        "assetSelection": [{"path": key.path} for key in sorted(keys)],
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
        "title": title, "description": description, "runConfigData": BACKFILL_RUN_CONFIG,
    }})
    return _launched(answer["launchPartitionBackfill"])


def _launched(result: dict) -> str:
    if result["__typename"] != "LaunchBackfillSuccess":
        raise BackfillError(f"Dagster refused the backfill: {(result.get('message') or result['__typename']).strip()}")
    return result["backfillId"]


def _graphql(document: str, variables: dict) -> dict:
    """Execute a GraphQL document of Dagster's API against the instance and the code location of workspace.yaml.

    `dagster-graphql -w workspace.yaml` runs it in a process of its own, with no webserver. Dagster has no public
    Python function that adds or re-executes a backfill (a proposed `DagsterInstance.launch_backfill`, dagster PR
    26731, was closed unmerged): its GraphQL API, which the UI calls, is the public way.
    """
    with tempfile.TemporaryDirectory(prefix="backed-graphql-") as scratch:
        answer_path = Path(scratch) / "answer.json"
        # The code server's logs go to stdout as well: the answer is read from its own file.
        done = subprocess.run([dagster_command("dagster-graphql"), "-w", str(WORKSPACE_FILE), "-t", document,
                               "-v", json.dumps(variables), "-o", str(answer_path)],
                              capture_output=True, text=True)
        if done.returncode != 0 or not answer_path.exists():
            raise BackfillError(f"dagster-graphql failed (exit code {done.returncode}): {_last_line(done.stderr)}")
        answer = json.loads(answer_path.read_text())
    if answer.get("errors"):
        raise BackfillError("Dagster's GraphQL API refused the request: "
                            + "; ".join(error.get("message", "") for error in answer["errors"]))
    return answer["data"]


def dagster_command(name: str) -> str:
    """A Dagster console script of this environment (the virtualenv's, whether or not it is on PATH)."""
    return str(Path(sys.executable).parent / name)


def _last_line(output: str) -> str:
    """The last line of a command's error output, without the PostgreSQL URL (it may hold a password)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    line = lines[-1] if lines else "no output"
    url = os.environ.get(PG_URL_ENV, "").strip()
    return line.replace(url, f"${PG_URL_ENV}") if url else line


def next_stage(instance: dg.DagsterInstance, backfill_id: str) -> str | None:
    """The second stage of a parallel backfill whose first stage completed successfully: launched on first call."""
    backfill = instance.get_backfill(backfill_id)
    if backfill is None or NEXT_STAGE_TAG not in backfill.tags or backfill.status.value != "COMPLETED_SUCCESS":
        return None
    for other in instance.get_backfills(limit=50):
        if other.tags.get(PREVIOUS_STAGE_TAG) == backfill_id:
            return other.backfill_id
    stage = json.loads(backfill.tags[NEXT_STAGE_TAG])
    tags = {key: value for key, value in backfill.tags.items() if key != NEXT_STAGE_TAG}
    title = f"{stage['days'][0]} .. {stage['days'][-1]}, stage 2: ledger and attestation"
    return _add_backfill(stage["days"], [dg.AssetKey.from_user_string(k) for k in stage["assets"]],
                         {**tags, PREVIOUS_STAGE_TAG: backfill_id}, title, backfill.description or "")


def progress_of(instance: dg.DagsterInstance, backfill_id: str, asset_graph, started: float) -> BackfillProgress:
    # Read from the instance (its backfill record, its runs). GraphQL has the same counts (`partitionBackfillOrError`,
    # `assetBackfillData`), but each `dagster-graphql` call loads the code location: seconds, not a 2-second poll.
    backfill = instance.get_backfill(backfill_id)
    data = backfill.get_asset_backfill_data(asset_graph)
    target = data.target_subset.num_partitions_and_non_partitioned_assets
    materialized = data.materialized_subset.num_partitions_and_non_partitioned_assets
    failed = data.failed_and_downstream_subset.num_partitions_and_non_partitioned_assets
    requested = data.requested_subset.num_partitions_and_non_partitioned_assets
    runs = instance.get_run_records(filters=dg.RunsFilter(tags=dg.DagsterRun.tags_for_backfill_id(backfill_id)))
    return BackfillProgress(
        backfill_id=backfill_id, status=backfill.status.value, elapsed_s=time.monotonic() - started,
        asset_partitions=target, materialized=materialized, failed=failed,
        in_progress=max(0, requested - materialized - failed),
        runs=dict(Counter(record.dagster_run.status.value for record in runs)),
    )


def daemon_is_running(instance: dg.DagsterInstance) -> bool:
    heartbeat = instance.get_daemon_heartbeats().get(BACKFILL_DAEMON)
    return heartbeat is not None and time.time() - heartbeat.timestamp < DAEMON_ALIVE_SECONDS


def stall_seconds() -> float:
    value = os.environ.get(STALL_SECONDS_ENV, "").strip()
    try:
        return float(value) if value else DEFAULT_STALL_SECONDS
    except ValueError:
        raise BackfillError(f"{STALL_SECONDS_ENV}={value!r} is not a number of seconds") from None


def drive_backfill(home: Path, backfill_id: str, echo: Callable[[str], None], poll_seconds: float = 2.0,
                   stall_after: float | None = None,
                   progressed: Callable[[BackfillProgress], None] | None = None) -> BackfillProgress:
    """Run the backfill to a final status (or follow a running daemon doing it), reporting progress as it changes.

    Raises BackfillStalled, saying why (`why_no_progress`), when nothing changed for `stall_after` seconds (default
    BACKED_BACKFILL_STALL_SECONDS, else DEFAULT_STALL_SECONDS). With `progressed`, each poll's progress goes to it
    (a progress bar) instead of a line to `echo` when it changes."""
    from orchestration.definitions import build_definitions

    instance = instance_for(home)
    asset_graph = build_definitions(home).resolve_asset_graph()
    started = time.monotonic()
    stall_after = stall_seconds() if stall_after is None else stall_after
    last_line = ""
    last_change = time.monotonic()
    following_daemon = False

    def report() -> BackfillProgress:
        nonlocal last_line, last_change
        progress = progress_of(instance, backfill_id, asset_graph, started)
        line = progress.line()
        if progressed is not None:
            progressed(progress)
        if line.split("] ", 1)[1] != last_line:
            if progressed is None:
                echo(line)
            last_line = line.split("] ", 1)[1]
            last_change = time.monotonic()
        elif not progress.finished and time.monotonic() - last_change > stall_after:
            raise BackfillStalled(f"backfill {backfill_id} made no progress for {time.monotonic() - last_change:.0f} s: "
                                  + why_no_progress(instance, backfill_id, following_daemon))
        return progress

    def go_on(progress: BackfillProgress) -> bool:
        """Switch to the next stage of a parallel backfill, if there is one to run."""
        nonlocal backfill_id, last_line
        following = next_stage(instance, progress.backfill_id)
        if following is None:
            return False
        echo(f"backfill {progress.backfill_id} ingested every day: the ledger and attestations follow as backfill "
             f"{following}")
        backfill_id, last_line = following, ""
        return True

    if daemon_is_running(instance):
        following_daemon = True
        echo("a Dagster daemon is running on this instance: it runs the backfill; following its progress")
        while daemon_is_running(instance):
            progress = report()
            if progress.finished:
                if not go_on(progress):
                    return progress
                continue
            time.sleep(poll_seconds)
        # Its heartbeat stopped (`dagster dev` ended): waiting on it would wait forever.
        beat = instance.get_daemon_heartbeats().get(BACKFILL_DAEMON)
        since = f"{time.time() - beat.timestamp:.0f} s since its last heartbeat" if beat else "no heartbeat"
        echo(f"the Dagster daemon stopped beating ({since}): this process runs the rest of the backfill")
        following_daemon = False

    echo("starting the code location of workspace.yaml")
    for progress in _run_backfill_here(instance, report, echo, poll_seconds, lambda: backfill_id):
        if progress.finished and not _runs_still_going(progress) and not go_on(progress):
            if progress.status == "COMPLETED_SUCCESS":
                # what the snapshot sensor does after a daemon's runs, with no daemon here to run it
                from orchestration.pipeline import publish_snapshot_here

                echo("publishing the snapshot readers query (snapshot/)")
                publish_snapshot_here(build_definitions(home), instance)
            return progress


def _run_backfill_here(instance: dg.DagsterInstance, report: Callable[[], BackfillProgress],
                       echo: Callable[[str], None], poll_seconds: float,
                       current: Callable[[], str]) -> Iterator[BackfillProgress]:
    """Do in this process what a Dagster daemon would, turn after turn: the backfill daemon's iteration (it submits
    the runs the backfill is ready for) and the run queue's (it launches them through the code location of
    workspace.yaml); yields the progress after each turn. A run of the backfill (`current()`) whose process died is
    marked failed and its pool slot freed, as a daemon's run monitoring would: the backfill then ends with that
    failure instead of waiting on it forever.

    Dagster's only public way to run these iterations is a daemon (`dagster-daemon run`, `dagster dev`), whose
    backfill loop sleeps a fixed 30 seconds between turns (not configurable): every stage of a backfill (its first
    runs, the runs that wait on them, its end, a parallel backfill's second stage) would wait up to that long, a
    one-day backfill taking about 55 s instead of 20 s. So these four names are Dagster's internals, here only.
    """
    import logging

    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster._daemon.backfill import execute_backfill_iteration
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    logger = logging.getLogger("backed.backfill")
    logger.setLevel(logging.WARNING)
    with (WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(WORKSPACE_FILE)])) as workspace,
          QueuedRunCoordinatorDaemon(interval_seconds=poll_seconds) as run_queue):
        while True:
            for error in execute_backfill_iteration(workspace, logger):
                if error is not None:
                    echo(f"backfill iteration error: {error.message.strip()}")
            list(run_queue.run_iteration(workspace))
            backfill_runs = dg.RunsFilter(tags=dg.DagsterRun.tags_for_backfill_id(current()), statuses=UNFINISHED_RUNS)
            for run_id in release_dead_workers(instance, backfill_runs):
                echo(f"run {run_id[:8]}'s process is gone: marked failed and its pool slot freed")
            yield report()
            time.sleep(poll_seconds)


def why_no_progress(instance: dg.DagsterInstance, backfill_id: str, following_daemon: bool) -> str:
    """What the backfill waits on, and what to run about it: the warehouse pool held by another run (alive, or dead
    and to be released), queued runs the run queue does not launch, a run still in a step, or no run at all."""
    runs = [r.dagster_run for r in instance.get_run_records(
        filters=dg.RunsFilter(tags=dg.DagsterRun.tags_for_backfill_id(backfill_id)))]
    ours = {run.run_id for run in runs}
    storage = instance.event_log_storage
    if storage.supports_global_concurrency_limits:
        pool = storage.get_concurrency_info(WAREHOUSE_POOL)
        holders = sorted({slot.run_id for slot in pool.claimed_slots} - ours)
        # A run of ours waits in a step for the slot, or (the run queue holds back runs whose pools are full) waits
        # in the queue.
        waiting = any(step.run_id in ours for step in pool.pending_steps) or any(
            run.status == dg.DagsterRunStatus.QUEUED for run in runs)
        if holders and waiting:
            return "; ".join(_holder(instance, run_id) for run_id in holders)
    queued = [run for run in runs if run.status == dg.DagsterRunStatus.QUEUED]
    if queued:
        others = [r.dagster_run for r in instance.get_run_records(filters=dg.RunsFilter(statuses=UNFINISHED_RUNS))
                  if r.dagster_run.run_id not in ours]
        if others:
            return (f"{len(queued)} of its runs are queued behind runs of other jobs holding the run queue's places: "
                    + ", ".join(f"{run.run_id[:8]} ({run.job_name}, {run.status.value.lower()})" for run in others)
                    + "; wait for them, or stop them (the UI: Runs › the run › Terminate)")
        if following_daemon:
            return (f"{len(queued)} of its runs are queued and the daemon's run queue does not launch them: stop "
                    f"`dagster dev` and run `backed backfill --resume {backfill_id}`")
    for run in runs:
        if run.status not in UNFINISHED_RUNS:
            continue
        worker = run_worker(instance, run.run_id)
        if worker is not None and worker_is_gone(*worker):
            return (f"run {run.run_id[:8]}'s process (pid {worker[0]}) is gone; release it with `backed backfill "
                    f"--release-run {run.run_id}`, then `backed backfill --resume {backfill_id}`")
        last = instance.get_records_for_run(run.run_id, limit=1, ascending=False).records
        said = f": {last[0].event_log_entry.message.strip()[:160]!r}" if last else ""
        return (f"run {run.run_id[:8]} is still running, its last event {_ago(last)}{said}; its output is in the "
                f"backfill's log")
    if not runs:
        return ("no run was launched for it" + (": the daemon's backfill loop has not taken it up (is `dagster dev` "
                                                "healthy?)" if following_daemon else "")
                + f"; carry on with `backed backfill --resume {backfill_id}`")
    return f"its runs have ended and nothing new was launched; carry on with `backed backfill --resume {backfill_id}`"


def release_stuck_run(home: Path, run_id: str) -> str:
    """`backed backfill --release-run`: mark failed a run that holds the warehouse pool but whose process is gone,
    and free its slots. Refused while its process is alive on this host."""
    instance = instance_for(home)
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        free_pool_slots(instance, run_id)
        return f"run {run_id} {'does not exist' if run is None else 'had ended'}: its pool slots are free"
    worker = run_worker(instance, run_id)
    if worker is not None and not worker_is_gone(*worker):
        raise BackfillError(f"run {run_id} is alive (pid {worker[0]}): stop it (the UI: Runs › {run_id[:8]} › "
                            "Terminate) rather than release it")
    release_run(instance, run, "released by `backed backfill --release-run`: its process was gone")
    return f"run {run_id} marked failed and its pool slots freed"


def _holder(instance: dg.DagsterInstance, run_id: str) -> str:
    run = instance.get_run_by_id(run_id)
    if run is None or run.is_finished:
        state = "no such run" if run is None else f"a run that {run.status.value.lower()}"
        return (f"its runs wait for the warehouse pool, still held by {state} ({run_id[:8]}); release it with "
                f"`backed backfill --release-run {run_id}`")
    worker = run_worker(instance, run_id)
    if worker is None or worker_is_gone(*worker):
        gone = "which reported nothing" if worker is None else f"whose process (pid {worker[0]}) is gone"
        return (f"its runs wait for the warehouse pool, held by run {run_id[:8]} ({run.job_name}) {gone}; if no "
                f"command is running it, release it with `backed backfill --release-run {run_id}`")
    last = instance.get_records_for_run(run_id, limit=1, ascending=False).records
    return (f"its runs wait for the warehouse pool, held by run {run_id[:8]} ({run.job_name}, pid {worker[0]}, its "
            f"last event {_ago(last)}): wait for it to end, or stop it (the UI: Runs › {run_id[:8]} › Terminate)")


def _ago(records) -> str:
    return f"{time.time() - records[0].event_log_entry.timestamp:.0f} s ago" if records else "never"


def _runs_still_going(progress: BackfillProgress) -> bool:
    return any(status in progress.runs for status in ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"))


def resume_backfill(home: Path, backfill_id: str) -> str:
    """The id to drive: the backfill itself while it is unfinished, else a re-execution of what it did not finish."""
    from orchestration.definitions import build_definitions

    instance = instance_for(home)
    backfill = instance.get_backfill(backfill_id)
    if backfill is None:
        raise BackfillError(f"no backfill {backfill_id} on the instance in {instance.root_directory}")
    if backfill.status.value in UNFINISHED:
        return backfill_id
    if backfill.status.value == "COMPLETED_SUCCESS":
        following = next_stage(instance, backfill_id)
        if following is not None:  # a parallel backfill's ingestion: its second stage carries on
            return resume_backfill(home, following)
        raise BackfillError(f"backfill {backfill_id} completed successfully: nothing to resume")
    if not backfill.is_asset_backfill:
        raise BackfillError(f"backfill {backfill_id} is a job backfill: re-execute it from the Dagster UI")
    asset_graph = build_definitions(home).resolve_asset_graph()
    data = backfill.get_asset_backfill_data(asset_graph)
    remaining = data.target_subset - data.materialized_subset
    if remaining.num_partitions_and_non_partitioned_assets == 0:
        raise BackfillError(f"backfill {backfill_id} has nothing left to materialise")
    # What the UI's "Re-execute from failure" does: a new backfill of what the parent did not materialise, with its
    # run config and tags, tagged with its parent and root backfills.
    answer = _graphql(REEXECUTE_BACKFILL, {"params": {"parentRunId": backfill_id, "strategy": "FROM_FAILURE"}})
    return _launched(answer["reexecutePartitionBackfill"])


def run_failures(home: Path, backfill_id: str, limit: int = 5) -> list[str]:
    """Why the backfill's failed runs failed: the first failed step of each and its own error (`chain_ingestion:
    RpcUnavailable: eth_chainId: connection dropped after 6 attempts`), not Dagster's `Execution of step … failed.`"""
    instance = instance_for(home)
    failures = []
    failed_runs = dg.RunsFilter(tags=dg.DagsterRun.tags_for_backfill_id(backfill_id),
                                statuses=[dg.DagsterRunStatus.FAILURE])
    for record in instance.get_run_records(filters=failed_runs, limit=limit):
        run = record.dagster_run
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records
        error = step_error(records[0].event_log_entry.dagster_event) if records else None
        partition = run.tags.get("dagster/partition") or (
            f"{run.tags.get('dagster/asset_partition_range_start')}..{run.tags.get('dagster/asset_partition_range_end')}")
        if error is not None and error.kind == "DagsterAssetCheckFailedError":
            failures += [f"run {run.run_id[:8]} ({partition}): {line}" for line in _blockers_found(instance, run.run_id)]
            continue
        failures.append(f"run {run.run_id[:8]} ({partition}): {error.line() if error else 'failed before any step'}")
    return failures


def _blockers_found(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """A blocking check failed: which, and its first break (`r5_loans_match_tapes: blocker 2026-01-03
    loan:0x…:principal expected …, actual …, difference 500 (1 break)`), instead of Dagster's `1 blocking asset check
    failed`. The exceptions table has every break."""
    lines = []
    for record in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                               limit=1000).records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.severity != dg.AssetCheckSeverity.ERROR:
            continue
        metadata = evaluation.metadata
        first = metadata.get("first_breaks")
        first_line = str(first.value).splitlines()[0].removeprefix("- ").replace("`", "") if first else ""
        count = metadata.get("blocker_breaks")
        count_text = f" ({count.value} blocker break{'s' if count.value != 1 else ''})" if count is not None else ""
        lines.append(f"{evaluation.check_name}: blocker {first_line}{count_text}; "
                     f"`backed exceptions list --status open` lists them")
    return lines or ["a blocking check failed (the run's log has which)"]


def recent_backfills(home: Path, limit: int = 10) -> list[dict]:
    instance = instance_for(home)
    return [{"id": b.backfill_id, "status": b.status.value, "title": b.title or "", "tags": dict(b.tags)}
            for b in instance.get_backfills(limit=limit)]


def backfill_log(home: DataHome, backfill_id: str) -> Path:
    """Where `backed backfill` sends what the code server and the runs print (`DataHome.backfill_log`).

    Not DAGSTER_HOME/logs: that is Dagster's telemetry folder, whose files every Dagster daemon (`dagster dev`'s)
    sends to Dagster's telemetry server and deletes, whatever dagster.yaml says of telemetry. Backfill logs found
    there are moved out first.
    """
    path = home.backfill_log(backfill_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    for misplaced in (home.dagster / "logs").glob("backfill-*.log"):
        misplaced.replace(path.parent / misplaced.name)
    return path


@contextlib.contextmanager
def children_output_to(log_path: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr, and so its children's (the code server, the runs), to `log_path`.

    Yields a stream on the terminal's stderr for progress lines: the terminal shows progress, the log has the rest.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(saved_err), "w", buffering=1)
    with log_path.open("ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved_out, 1)
            os.dup2(saved_err, 2)
            os.close(saved_out)
            os.close(saved_err)
            terminal.close()
