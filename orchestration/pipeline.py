"""Runs of the pipeline in this process, on the instance of the data home: the days' ingestion, ledger and checks in
one run, then each day's attestation (`run_pipeline`); and the demo (`run_demo`): a fresh sandbox chain, N simulated
days, then the pipeline over them.

The sandbox's data (inbox, lake, warehouse, reports) is reset first so a demo always describes exactly the days it
simulated; the Dagster instance (run history) is kept.
"""
from __future__ import annotations

import contextlib
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.crashed_runs import process_tags, release_crashed_runs
from orchestration.definitions import build_definitions
from foundation.home import DataHome
from foundation.warehouse import SPARK, engine
from orchestration.instance import instance_for
from orchestration.step_errors import step_error



@dataclass
class DemoResult:
    home: Path
    days: list[date]
    rows: list[dict] = field(default_factory=list)
    attestations: dict[date, Path] = field(default_factory=dict)
    refused: dict[date, str] = field(default_factory=dict)
    pipeline_success: bool = False
    # What was done with the last day's attestation: signed with the demo keys, published, verified.
    sign_off: list[str] = field(default_factory=list)


def reset_sandbox_state(home: Path) -> None:
    for path in DataHome(home).simulated_state:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# The CLI prints its own progress; Dagster's per-event log lines stay in the run's log (the UI), not the terminal.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


# A phase of the work: `phase(description, total)` is a context manager yielding `update(done, total=None)` (the
# CLI's console draws a progress bar with it).
Phase = Callable[..., contextlib.AbstractContextManager]


def announcing(echo: Callable[[str], None]) -> Phase:
    """Phases told by a line each as they start, their progress untold."""
    @contextlib.contextmanager
    def phase(description: str, total: int | None = None) -> Iterator[Callable[..., None]]:
        echo(description)
        yield lambda done, total=None: None

    return phase


@contextlib.contextmanager
def following(instance: dg.DagsterInstance, run_id: str, update: Callable[..., None],
              every_s: float = 1.0) -> Iterator[None]:
    """While the run `run_id` executes in this process, tell `update` how many of the asset partitions it planned
    are materialised, from its events on the instance (read in a thread of their own)."""
    done = threading.Event()

    def follow() -> None:
        planned = materialised = 0
        cursor = None
        kinds = {dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION}
        while not done.wait(every_s):
            try:
                records = instance.get_records_for_run(run_id, cursor=cursor, of_type=kinds)
            except Exception:  # the run's storage not there yet; the bar just waits
                continue
            cursor = records.cursor
            for record in records.records:
                if record.event_log_entry.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED:
                    planned += 1
                else:
                    materialised += 1
            if planned:
                update(materialised, planned)

    thread = threading.Thread(target=follow, name="backed-run-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def range_tags(first: date, last: date) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}


def run_pipeline(home: Path, days: list[date], echo: Callable[[str], None] = print,
                 profile: str = "sandbox", attest: Sequence[date] | None = None,
                 phase: Phase | None = None) -> DemoResult:
    """Materialise every partition of `days` through the Definitions' jobs on the instance in BACKED_HOME/dagster,
    then attest each day (or the days of `attest`). Each of those phases is told to `phase` (default: a line to
    `echo`)."""
    phase = phase or announcing(echo)
    result = DemoResult(home=home, days=days)
    defs = build_definitions(home, profile)
    instance = instance_for(home)
    # A run killed earlier (kill -9 during dbt) would keep the warehouse pool's slot and this run would wait forever.
    release_crashed_runs(instance)
    with phase("loading reference data (chart of accounts)"):
        seeds = defs.resolve_job_def("reference_data").execute_in_process(
            instance=instance, run_config=QUIET_RUN_CONFIG, tags=process_tags(), raise_on_error=False)
    if not seeds.success:
        raise RuntimeError("loading the dbt seeds failed; see the run in the Dagster UI")
    run_id = str(uuid.uuid4())
    on_spark = " (the ledger built on Spark: BACKED_ENGINE=spark)" if engine() == SPARK else ""
    with (phase(f"ingesting and reconciling {days[0]} .. {days[-1]} in one run{on_spark}") as update,
          following(instance, run_id, update)):
        run = defs.resolve_job_def("ingest_and_reconcile").execute_in_process(
            instance=instance, tags={**range_tags(days[0], days[-1]), **process_tags()}, run_config=QUIET_RUN_CONFIG,
            raise_on_error=False, run_id=run_id)
    crashes = step_crashes(run)
    if crashes:
        raise RuntimeError("the ingest-and-reconcile run failed:\n" + "\n".join(crashes[:5]))
    # A run whose only failures are blocking checks that found blockers did its work: the breaks are exceptions.
    result.pipeline_success = run.success
    attestation_job = defs.resolve_job_def("attestation")
    attested = [day for day in days if attest is None or day in attest]
    with phase(f"attesting {len(attested)} days", total=len(attested)) as update:
        for done, day in enumerate(attested, start=1):
            att = attestation_job.execute_in_process(instance=instance, partition_key=day.isoformat(),
                                                     run_config=QUIET_RUN_CONFIG, tags=process_tags(),
                                                     raise_on_error=False)
            path, _ = DataHome(home).attestation_paths(day)
            if att.success and path.exists():
                result.attestations[day] = path
            else:
                reasons = failure_reasons(att)
                result.refused[day] = reasons[0] if reasons else "failed"
            update(done)
    with phase("publishing the snapshot readers query (snapshot/)"):
        publish_snapshot_here(defs, instance)
    result.rows = coverage_table(home, days)
    return result


def publish_snapshot_here(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Run the `publish_snapshot` job in this process, as the snapshot sensor does after a daemon's run, so that
    readers get the marts the runs of this process built."""
    publish = defs.resolve_job_def("publish_snapshot").execute_in_process(
        instance=instance, run_config=QUIET_RUN_CONFIG, tags=process_tags(), raise_on_error=False)
    if not publish.success:
        reasons = failure_reasons(publish)
        raise RuntimeError("publishing the snapshot failed: " + (reasons[0] if reasons else "see the run in the UI"))


def failure_reasons(run) -> list[str]:
    """Each failed step's own error (the exception's message, a refused attestation's reason), not Dagster's
    `Execution of step ... failed.`"""
    return [step_error(event).cause for event in run.all_events if event.event_type_value == "STEP_FAILURE"]


def step_crashes(run) -> list[str]:
    """Step failures other than a blocking asset check that evaluated and failed."""
    crashes = []
    for event in run.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        error = getattr(event.event_specific_data, "error", None)
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue
        crashes.append(step_error(event).line())
    return crashes


def coverage_table(home: Path, days: list[date]) -> list[dict]:
    with duckdb.connect(str(DataHome(home).warehouse), read_only=True) as con:
        cur = con.execute("""
            select c.partition_date as day, c.usdai_total_supply, c.usdai_bridged_supply, c.usdai_held_by_protocol,
                   c.usdai_outstanding, c.liquid_reserves, c.liquid_coverage, c.total_assets_net,
                   c.total_liabilities, c.total_coverage,
                   (select count(*) from recon.exceptions e where e.check_date = c.partition_date
                      and e.status != 'resolved') as open_exceptions,
                   (select count(*) from recon.exceptions e where e.check_date = c.partition_date
                      and e.status != 'resolved' and e.severity = 'blocker') as open_blockers
            from main.reserve_coverage c where c.partition_date between ? and ? order by 1""",
            [days[0], days[-1]])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def run_demo(home: Path, days: int = 30, seed: int = 7, start: date = date(2026, 1, 1),
             inject: Sequence[str] = (), echo: Callable[[str], None] = print,
             attest: Sequence[date] | None = None, keep_chain: bool = False,
             phase: Phase | None = None,
             sign_off: Callable[[DataHome, date, Phase], list[str]] | None = None) -> DemoResult:
    """With `keep_chain`, the chain is left serving at the end (`backed sandbox down` stops it). Each phase is told
    to `phase` (default: a line to `echo`). `sign_off`, when given, is called with the home and the last day once
    it is attested, while the chain still serves (the demo signs, publishes and verifies there:
    orchestration/attestations.py): it returns what it is doing, for the phase, and the lines to print."""
    phase = phase or announcing(echo)
    from sandbox.anvil import AnvilNode, stop_detached
    from sandbox.simulator import genesis_timestamp, simulate

    home.mkdir(parents=True, exist_ok=True)
    stop_detached(DataHome(home).sandbox_node)  # the chain of an earlier demo left serving is not this one's
    reset_sandbox_state(home)
    day_list = [start + timedelta(days=i) for i in range(days)]
    log_path = DataHome(home).sandbox_node_log if keep_chain else None
    with AnvilNode(genesis_timestamp(start), log_path=log_path) as node:
        echo(f"anvil on {node.rpc_url}")

        def ingest_before_reorg(day: date) -> None:
            # A reorganisation only matters to a pipeline that already ingested the day it replaces.
            echo(f"the chain will reorganise {day}: the pipeline first ingests through it")
            run_pipeline(home, [d for d in day_list if d <= day], echo, phase=phase)

        with phase(f"simulating {days} days from {start} (seed {seed})"
                   + (f", injecting {', '.join(inject)}" if inject else ""), total=days) as update:
            simulate(home, node.rpc_url, days=days, seed=seed, start=start, inject=list(inject),
                     before_reorg=ingest_before_reorg, day_done=update)
        result = run_pipeline(home, day_list, echo, attest=attest, phase=phase)
        if sign_off is not None and day_list[-1] in result.attestations:
            result.sign_off = sign_off(DataHome(home), day_list[-1], phase)
        if keep_chain:
            node.detach(DataHome(home).sandbox_node)
            echo(f"the sandbox chain stays up at {node.rpc_url}; `backed sandbox down` stops it")
    return result
